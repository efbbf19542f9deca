# Sourced by the guest image builders. pvh_kernel BZIMAGE OUT: writes the uncompressed ELF kernel
# inside a Debian bzImage to OUT and succeeds when that worked. QEMU boots such an ELF through
# its PVH entry point (Debian kernels have CONFIG_PVH), which skips the real-mode setup and the
# kernel's self-decompression: under TCG that decompression alone takes 10-20 s of a cold boot.
pvh_kernel() {
    _bz=$1 _out=$2
    # The payload starts at the compressor's magic: xz (Debian 12), zstd or gzip.
    for _magic in '\xfd7zXZ\x00:xz -dc --single-stream' '\x28\xb5\x2f\xfd:zstd -dcq' '\x1f\x8b\x08\x00:gzip -dc'; do
        _pattern=${_magic%%:*} _cmd=${_magic#*:}
        command -v "${_cmd%% *}" >/dev/null 2>&1 || continue
        _off=$(LC_ALL=C grep -obUaP "$_pattern" "$_bz" 2>/dev/null | head -n 1 | cut -d: -f1)
        [ -n "$_off" ] || continue
        tail -c +"$((_off + 1))" "$_bz" | $_cmd > "$_out.tmp" 2>/dev/null || true
        # An ELF of a plausible size, else try the next compressor.
        if [ "$(head -c 4 "$_out.tmp" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ] &&
           [ "$(wc -c < "$_out.tmp")" -gt 1000000 ]; then
            mv "$_out.tmp" "$_out"
            return 0
        fi
    done
    rm -f "$_out.tmp"
    return 1
}
