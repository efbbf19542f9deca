#pragma once
// Which Unix account a portal user's sessions run as: an existing account of the same name, or
// one the helper creates with useradd from a configured uid range (its own home, 0700, locked
// password). Never root, a system account, nobody, or the host's own service account. Runs in
// portico-session-helper (root); single-threaded.

#include <string>
#include <sys/types.h>

namespace portico::host::privsep {

struct Account {
    std::string name, home, shell;
    uid_t uid = 0;
    gid_t gid = 0;
    bool created_range = false;  // in the helper's own uid range: all its processes are the session's
};

struct AccountPolicy {
    bool use_existing = true;  // map to an existing account of the same name (uid >= 1000)
    bool create = true;        // else create one in [uid_min, uid_max]
    uid_t uid_min = 200000, uid_max = 299999;
    std::string home_base = "/home";
    uid_t service_uid = 0;  // the host's account: never a session's
};

// What the policy allows for an account that exists: "" or why not (pure, for tests).
std::string account_refusal(const AccountPolicy& policy, uid_t uid);

// Looks up (and when allowed creates) the account for `portal_user`. Returns "" and fills `out`,
// or the reason it cannot, for the user to read ("no Unix account ...", "... is a system account").
std::string resolve_account(const AccountPolicy& policy, const std::string& portal_user, Account& out);

}  // namespace portico::host::privsep
