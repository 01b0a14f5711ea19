// orphan_ledger.cc — each orphan gets a given signal once (orphan_ledger.h).
#include "orphan_ledger.h"

namespace byed {

bool OrphanLedger::should_tell(int pid, int sig) const {
  auto it = told_.find(pid);
  return it == told_.end() || it->second != sig;
}

}  // namespace byed
