#include "session-host/vm/vm_desktops.hpp"

#include "common/log.hpp"
#include "session-host/vm/guest_image.hpp"

#include <pthread.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

namespace portico::host {

namespace fs = std::filesystem;
namespace ctl = protocol::control;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// User names become file names: safe characters stay, anything else is %XX-escaped.
std::string file_safe(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            (c == '.' && !out.empty())) {
            out += static_cast<char>(c);
        } else {
            char buf[4];
            std::snprintf(buf, sizeof(buf), "%%%02X", c);
            out += buf;
        }
    }
    return out;
}

bool file_contains(const std::string& path, const std::string& needle) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return data.find(needle) != std::string::npos;
}

void make_private_dir(const std::string& dir) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw std::runtime_error("cannot create " + dir + ": " + ec.message());
    ::chmod(dir.c_str(), 0700);
}

void remove_tree(const std::string& dir) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec) log::warn("cannot remove ", dir, ": ", ec.message());
}

struct Spare {
    ctl::PoolSpec spec;
    std::unique_ptr<vm::VmInstance> vm;
    std::string runtime_dir;
    Clock::time_point started;
    bool ready = false;
};

struct SpawnTask {
    vm::VmConfig config;
    std::promise<std::unique_ptr<vm::VmInstance>> result;
};

bool same_machine(const ctl::PoolSpec& a, const ctl::PoolSpec& b) {
    return a.image == b.image && a.memory_mib == b.memory_mib && a.cpus == b.cpus;
}

}  // namespace

namespace detail {

struct VmDesktopsState {
    VmDesktops::Options options;
    std::map<std::string, vm::GuestImage> images;
    vm::AccelChoice accel;
    std::string run_dir, dedicated_dir;

    mutable std::mutex mu;
    std::condition_variable cv;
    std::vector<ctl::PoolSpec> pools;
    bool have_pools = false;  // nothing is deleted before the broker has said which pools exist
    bool pools_changed = false;
    bool wake = false;
    std::vector<std::unique_ptr<Spare>> spares;
    std::map<std::string, int> pool_sessions;               // live sessions per pool
    std::set<std::string> dedicated_in_use;                 // overlay paths of running dedicated desktops
    std::map<std::string, Clock::time_point> boot_backoff;  // pool -> no spare boots before
    std::deque<std::shared_ptr<SpawnTask>> tasks;
    bool stopping = false;
    unsigned next_vm = 0;
    std::thread manager;

    // Unique across host restarts too (a restarted host must not reuse a name the test or an
    // admin still associates with a VM of the previous run). Caller holds mu.
    std::string next_runtime_dir() {
        return run_dir + "/vm-" + std::to_string(::getpid()) + "-" + std::to_string(++next_vm);
    }

    const ctl::PoolSpec* find_pool(const std::string& id) const {
        for (const auto& p : pools)
            if (p.pool == id) return &p;
        return nullptr;
    }

    vm::VmConfig config_for(const vm::GuestImage& img, int memory_mib, int cpus, const std::string& runtime_dir) const {
        vm::VmConfig c = img.config();
        c.runtime_dir = runtime_dir;
        c.accel = accel.accel;
        c.memory_mib = memory_mib;
        c.cpus = cpus;
        return c;
    }

    // Runs the VmInstance constructor on the manager thread (see the header: PDEATHSIG).
    std::unique_ptr<vm::VmInstance> spawn(const vm::VmConfig& config) {
        auto task = std::make_shared<SpawnTask>();
        task->config = config;
        auto result = task->result.get_future();
        {
            std::lock_guard lk(mu);
            if (stopping) throw std::runtime_error("the host is shutting down");
            tasks.push_back(task);
            cv.notify_all();
        }
        return result.get();
    }

    void run() {
        pthread_setname_np(pthread_self(), "vm-manager");
        std::unique_lock lk(mu);
        while (!stopping) {
            if (!tasks.empty()) {
                auto t = std::move(tasks.front());
                tasks.pop_front();
                lk.unlock();
                try {
                    t->result.set_value(std::make_unique<vm::VmInstance>(t->config));
                } catch (...) {
                    t->result.set_exception(std::current_exception());
                }
                lk.lock();
                continue;
            }
            try {
                maintain(lk);
            } catch (const std::exception& e) {
                log::error("VM spares: ", e.what());
            }
            if (stopping || !tasks.empty()) continue;
            cv.wait_for(lk, 250ms, [&] { return stopping || wake || !tasks.empty(); });
            wake = false;
        }
        for (auto& t : tasks)
            t->result.set_exception(std::make_exception_ptr(std::runtime_error("the host is shutting down")));
        tasks.clear();
        auto all = std::move(spares);
        spares.clear();
        lk.unlock();
        // Stopped here, on the thread that forked them, before it exits (and kills them).
        for (auto& s : all) discard(*s);
    }

    void discard(Spare& s) {
        if (s.vm) s.vm->stop(2s);
        s.vm.reset();
        remove_tree(s.runtime_dir);
    }

    bool check_ready(Spare& s, Clock::time_point now) {
        const auto& img = images.at(s.spec.image);
        if (!img.ready_serial.empty())
            s.ready = file_contains(s.runtime_dir + "/serial.log", img.ready_serial);
        else
            s.ready = now - s.started >= std::chrono::seconds(img.ready_seconds);
        if (s.ready)
            log::info("spare VM for pool ", s.spec.pool, " is ready (",
                      std::chrono::duration_cast<std::chrono::milliseconds>(now - s.started).count(),
                      " ms after start)");
        return s.ready;
    }

    // One pass of spare keeping: drop dead and unwanted spares, notice ready ones, boot at most one.
    void maintain(std::unique_lock<std::mutex>& lk) {
        const auto now = Clock::now();
        std::vector<std::unique_ptr<Spare>> drop;
        std::map<std::string, int> count;
        int booting = 0;
        for (auto it = spares.begin(); it != spares.end();) {
            Spare& s = **it;
            const ctl::PoolSpec* want = find_pool(s.spec.pool);
            bool keep =
                want && want->mode == "pooled" && same_machine(*want, s.spec) && count[s.spec.pool] < want->spares;
            if (auto e = s.vm->poll_exit()) {
                log::warn("spare VM for pool ", s.spec.pool, " stopped: ", e->describe());
                boot_backoff[s.spec.pool] = now + 10s;
                keep = false;
            } else if (keep && !s.ready && !check_ready(s, now) && now - s.started > 600s) {
                log::warn("spare VM for pool ", s.spec.pool, " was not ready after 600 s; discarding it");
                boot_backoff[s.spec.pool] = now + 60s;
                keep = false;
            }
            if (!keep) {
                drop.push_back(std::move(*it));
                it = spares.erase(it);
                continue;
            }
            ++count[s.spec.pool];
            if (!s.ready) ++booting;
            ++it;
        }

        std::vector<std::string> stale_pool_dirs;
        if (have_pools && pools_changed) {
            pools_changed = false;
            std::error_code ec;
            for (const auto& e : fs::directory_iterator(dedicated_dir, ec)) {
                const std::string name = e.path().filename().string();
                if (!find_pool(name) && pool_sessions[name] == 0) stale_pool_dirs.push_back(e.path().string());
            }
        }

        std::optional<ctl::PoolSpec> boot;
        if (have_pools && booting < options.max_booting_spares) {
            for (const auto& p : pools) {
                if (p.mode != "pooled" || count[p.pool] >= p.spares || !images.count(p.image)) continue;
                if (auto b = boot_backoff.find(p.pool); b != boot_backoff.end() && now < b->second) continue;
                boot = p;
                break;
            }
        }

        if (drop.empty() && stale_pool_dirs.empty() && !boot) return;
        lk.unlock();
        for (auto& s : drop) discard(*s);
        for (const auto& d : stale_pool_dirs) {
            log::info("desktop pool ", fs::path(d).filename().string(), " no longer exists; removing its disks");
            remove_tree(d);
        }
        std::unique_ptr<Spare> spare;
        if (boot) {
            spare = std::make_unique<Spare>();
            spare->spec = *boot;
            {
                std::lock_guard g(mu);
                spare->runtime_dir = next_runtime_dir();
            }
            spare->started = Clock::now();
            try {
                spare->vm = std::make_unique<vm::VmInstance>(
                    config_for(images.at(boot->image), boot->memory_mib, boot->cpus, spare->runtime_dir));
                log::info("booting a spare VM for pool ", boot->pool, " (image ", boot->image, ", ", spare->runtime_dir,
                          ")");
            } catch (const std::exception& e) {
                log::error("cannot boot a spare VM for pool ", boot->pool, ": ", e.what());
                remove_tree(spare->runtime_dir);
                spare.reset();
            }
        }
        lk.lock();
        if (boot && !spare) boot_backoff[boot->pool] = Clock::now() + 30s;
        if (spare) spares.push_back(std::move(spare));
    }

    void release(DesktopVm& d) {
        if (d.vm_) d.vm_->stop(3s);
        d.vm_.reset();
        remove_tree(d.runtime_dir_);
        bool remove_pool_files = false;
        {
            std::lock_guard lk(mu);
            if (!d.dedicated_overlay_.empty()) dedicated_in_use.erase(d.dedicated_overlay_);
            int& n = pool_sessions[d.pool_];
            n = std::max(0, n - 1);
            remove_pool_files = n == 0 && have_pools && !find_pool(d.pool_);
        }
        if (remove_pool_files && !d.pool_.empty()) {
            log::info("desktop pool ", d.pool_, " no longer exists; removing its disks");
            remove_tree(dedicated_dir + "/" + d.pool_);
        }
    }
};

}  // namespace detail

DesktopVm::~DesktopVm() {
    if (owner_) owner_->release(*this);
}

vm::VmExit DesktopVm::stop() {
    if (!vm_) return {};
    return vm_->stop(3s);
}

VmDesktops::VmDesktops(Options options) : state_(std::make_shared<detail::VmDesktopsState>()) {
    auto& s = *state_;
    s.options = std::move(options);
    if (s.options.vm_dir.empty()) throw std::runtime_error("the VM directory is not set");
    s.options.vm_dir = fs::absolute(s.options.vm_dir).lexically_normal().string();
    std::vector<std::string> problems;
    if (!s.options.images_dir.empty()) s.images = vm::load_images(s.options.images_dir, problems);
    for (const auto& p : problems) log::warn("VM images: ", p);
    s.accel = vm::choose_accelerator(s.options.accel);
    if (!s.accel.ok) throw std::runtime_error(s.accel.error);
    if (!s.accel.warning.empty()) log::warn("VM desktops: ", s.accel.warning);

    s.run_dir = s.options.vm_dir + "/run";
    s.dedicated_dir = s.options.vm_dir + "/dedicated";
    // QEMU's sockets live in the runtime directories; unix socket paths are short.
    if ((s.run_dir + "/vm-4294967295-4294967295/qmp.sock").size() >= sizeof(sockaddr_un{}.sun_path))
        throw std::runtime_error("the VM directory " + s.options.vm_dir +
                                 " is too long a path for unix sockets; choose a shorter --vm-dir");
    make_private_dir(s.options.vm_dir);
    remove_tree(s.run_dir);  // runtime directories a killed host left behind (its QEMUs died with it)
    make_private_dir(s.run_dir);
    make_private_dir(s.dedicated_dir);

    std::string names;
    for (const auto& [name, img] : s.images) names += (names.empty() ? "" : ", ") + name;
    log::info("VM desktops: accelerator ", s.accel.accel, ", images: ", names.empty() ? "none" : names, ", VMs in ",
              s.options.vm_dir);
    s.manager = std::thread([st = state_] { st->run(); });
}

VmDesktops::~VmDesktops() { shutdown(); }

std::vector<std::string> VmDesktops::image_names() const {
    std::vector<std::string> out;
    for (const auto& [name, img] : state_->images) out.push_back(name);
    return out;
}

bool VmDesktops::has_image(const std::string& name) const { return state_->images.count(name) > 0; }
const std::string& VmDesktops::accel() const { return state_->accel.accel; }
const std::string& VmDesktops::accel_warning() const { return state_->accel.warning; }

void VmDesktops::set_pools(std::vector<ctl::PoolSpec> pools) {
    auto& s = *state_;
    std::lock_guard lk(s.mu);
    s.pools = std::move(pools);
    s.have_pools = true;
    s.pools_changed = true;
    s.wake = true;
    s.cv.notify_all();
}

int VmDesktops::ready_spares(const std::string& pool) const {
    auto& s = *state_;
    std::lock_guard lk(s.mu);
    int n = 0;
    for (const auto& sp : s.spares)
        if (sp->spec.pool == pool && sp->ready) ++n;
    return n;
}

VmDesktops::Census VmDesktops::census() const {
    auto& s = *state_;
    std::lock_guard lk(s.mu);
    Census c;
    for (const auto& [pool, n] : s.pool_sessions) c.in_session += n;
    for (const auto& sp : s.spares) (sp->ready ? c.spare_ready : c.spare_booting)++;
    return c;
}

std::unique_ptr<DesktopVm> VmDesktops::acquire(const std::string& session_id, const std::string& user,
                                               const ctl::DesktopSpec& d) {
    auto& s = *state_;
    auto img = s.images.find(d.image);
    if (img == s.images.end()) throw std::runtime_error("this host has no VM image '" + d.image + "'");
    if (!vm::valid_image_name(d.pool)) throw std::runtime_error("invalid desktop pool id '" + d.pool + "'");
    if (d.mode != "pooled" && d.mode != "dedicated") throw std::runtime_error("unknown desktop mode '" + d.mode + "'");

    std::unique_ptr<DesktopVm> out(new DesktopVm);
    out->pool_ = d.pool;
    std::string overlay;
    {
        std::lock_guard lk(s.mu);
        if (s.stopping) throw std::runtime_error("the host is shutting down");
        if (d.mode == "pooled") {
            // A ready spare first, else the one that has booted longest.
            const ctl::PoolSpec want{d.pool, d.image, d.mode, 0, d.memory_mib, d.cpus};
            auto best = s.spares.end();
            for (auto it = s.spares.begin(); it != s.spares.end(); ++it) {
                const Spare& sp = **it;
                if (sp.spec.pool != d.pool || !same_machine(sp.spec, want) || sp.vm->poll_exit()) continue;
                if (best == s.spares.end() || (sp.ready && !(*best)->ready) ||
                    (sp.ready == (*best)->ready && sp.started < (*best)->started))
                    best = it;
            }
            if (best != s.spares.end()) {
                auto sp = std::move(*best);
                s.spares.erase(best);
                out->vm_ = std::move(sp->vm);
                out->runtime_dir_ = sp->runtime_dir;
                out->from_spare_ = true;
                out->owner_ = state_;
                ++s.pool_sessions[d.pool];
                s.wake = true;  // boot the next spare behind it
                s.cv.notify_all();
                log::info("session ", session_id, ": took a ", sp->ready ? "ready" : "booting", " spare VM of pool ",
                          d.pool, " (", out->runtime_dir_, ")");
                return out;
            }
        } else {
            overlay = s.dedicated_dir + "/" + d.pool + "/" + file_safe(user) + ".qcow2";
            if (s.dedicated_in_use.count(overlay))
                throw std::runtime_error("the desktop of user '" + user + "' in pool '" + d.pool +
                                         "' is already running");
            s.dedicated_in_use.insert(overlay);
            out->dedicated_overlay_ = overlay;
        }
        ++s.pool_sessions[d.pool];
        // From here on, the DesktopVm's destructor undoes what was reserved.
        out->owner_ = state_;
        out->runtime_dir_ = s.next_runtime_dir();
    }
    auto config = s.config_for(img->second, d.memory_mib, d.cpus, out->runtime_dir_);
    if (!overlay.empty()) {
        make_private_dir(s.dedicated_dir + "/" + d.pool);
        if (!img->second.disk.empty()) config.overlay = overlay;
    }
    log::info("session ", session_id, ": booting a ", d.mode, " VM of pool ", d.pool, " (image ", d.image, ", ",
              d.memory_mib, " MiB, ", d.cpus, " CPU, accel ", s.accel.accel, ")");
    out->vm_ = s.spawn(config);
    return out;
}

void VmDesktops::shutdown() {
    auto& s = *state_;
    {
        std::lock_guard lk(s.mu);
        s.stopping = true;
        s.cv.notify_all();
    }
    if (s.manager.joinable()) s.manager.join();
}

}  // namespace portico::host
