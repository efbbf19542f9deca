#pragma once
// `portico-broker backup` and `restore`: a broker's estate as a folder of plain files and a
// manifest, taken while the broker runs, and a state directory made from one.
//
// A backup folder holds the state directory's keys and certificates (ticket key, host CA, TLS
// pair, enrollment secret) under their state-directory names, the SQLite database as
// `portico.db` (copied with SQLite's online backup API: one consistent snapshot while the broker
// goes on writing; a PostgreSQL store is not copied, pg_dump does that), and `manifest.json`,
// written last: the Portico version, the schema version, the time, and each file's size, mode
// and SHA-256. restore refuses a folder whose files do not match their manifest entries, and a
// target directory that is not empty. Called from the command line only (throws on failure with
// a message for the admin).

#include <cstdint>
#include <string>
#include <vector>

namespace portico::broker {

struct BackupFile {
    std::string path;  // relative to the folder and to the state directory (e.g. "ca/ca.key")
    std::uint64_t size = 0;
    std::string sha256;
    unsigned mode = 0600;
};

struct BackupManifest {
    int format = 1;
    std::string portico_version;
    int schema_version = 0;
    std::string created_at;  // UTC, ISO 8601
    std::string store;       // "sqlite" (portico.db is in the folder) or "postgresql" (not copied)
    std::vector<BackupFile> files;
};

// Copies the estate of the broker whose state directory is `state_dir` and whose store is
// `database` (empty: the state directory's portico.db) into `to_dir`, which must not exist or be
// empty; it is made mode 0700.
BackupManifest backup_state(const std::string& state_dir, const std::string& database, const std::string& to_dir);

// Checks `from_dir` against its manifest and makes `state_dir` (absent or empty) from it, each
// file with its recorded mode; the database is opened once, which migrates an older schema.
// Returns the manifest.
BackupManifest restore_state(const std::string& from_dir, const std::string& state_dir);

}  // namespace portico::broker
