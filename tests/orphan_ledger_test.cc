#include "orphan_ledger.h"

#include <doctest/doctest.h>
#include <signal.h>

using byed::OrphanLedger;

TEST_CASE("orphan ledger: each orphan gets a given signal once") {
  OrphanLedger l;
  CHECK(l.should_tell(100, SIGTERM));
  l.told(100, SIGTERM);
  CHECK_FALSE(l.should_tell(100, SIGTERM));
  CHECK(l.should_tell(101, SIGTERM));  // another orphan
  // A different signal (the SIGKILL after the stop timeout) goes out too,
  // and then only once.
  CHECK(l.should_tell(100, SIGKILL));
  l.told(100, SIGKILL);
  CHECK_FALSE(l.should_tell(100, SIGKILL));
}

TEST_CASE("orphan ledger: a reaped pid is forgotten, its number reused") {
  OrphanLedger l;
  l.told(100, SIGTERM);
  l.told(200, SIGTERM);
  l.forget(100);
  CHECK(l.should_tell(100, SIGTERM));
  CHECK_FALSE(l.should_tell(200, SIGTERM));
  l.forget(999);  // never told: nothing happens
  CHECK_FALSE(l.should_tell(200, SIGTERM));
}
