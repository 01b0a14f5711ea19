// orphan_ledger.h — which adopted orphan was already told which signal.
//
// Pure. On a stop byed signals every orphan it adopted (SignalOrphans), and
// it does so again each time a child is reaped, since new orphans appear as
// their parents die. Each orphan gets a given signal once: the ledger
// remembers the last signal each pid was sent and forgets a pid once it is
// reaped (its number may then be anyone's).
#pragma once

#include <map>

namespace byed {

class OrphanLedger {
 public:
  // Whether `pid` is still to be sent `sig`.
  bool should_tell(int pid, int sig) const;
  // `pid` was sent `sig`.
  void told(int pid, int sig) { told_[pid] = sig; }
  // `pid` was reaped.
  void forget(int pid) { told_.erase(pid); }

 private:
  std::map<int, int> told_;  // pid -> the last signal it was sent
};

}  // namespace byed
