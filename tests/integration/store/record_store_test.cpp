// SqliteRecordStore against a real SQLite file in a temp dir: every
// operation, its failure codes, and tenant isolation.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "broker/store/sqlite_record_store.h"
#include "broker/store/sqlite_schema.h"
#include "store_test_util.h"

namespace kmsd::store {
namespace {

using testing::MakeRecord;
using testing::RawDb;
using testing::TempDir;
using testing::WrappedKeyFor;

// The two indexes schema 1 created and schema 3 dropped.
constexpr const char kSchemaOneIndexes[] =
    "CREATE INDEX records_by_asset ON records (tenant, asset_id);"
    "CREATE INDEX records_by_created ON records (tenant, created_at);";

// The file's explicit indexes (not SQLite's own autoindexes), by name.
std::vector<std::string> IndexNames(RawDb& raw) {
  std::vector<std::string> names;
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(raw.get(),
                     "SELECT name FROM sqlite_master WHERE type = 'index'"
                     " AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name",
                     -1, &stmt, nullptr);
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    names.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
  }
  sqlite3_finalize(stmt);
  return names;
}

const Instant kT0 = FromUnixMicros(1774746000000000);
const Instant kT1 = FromUnixMicros(1774749600000000);

class RecordStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Reopen();
    ASSERT_TRUE(store_->AddKekVersion("tenant-a", 1, kT0));
    ASSERT_TRUE(store_->AddKekVersion("tenant-b", 1, kT0));
  }

  void Reopen() {
    store_.reset();
    auto opened = SqliteRecordStore::Open({.path = db_path()});
    ASSERT_TRUE(opened) << opened.error().message;
    store_ = std::move(*opened);
  }

  std::filesystem::path db_path() const { return dir_.path() / "records.db"; }

  static void ExpectCode(const Status& s, ErrorCode code) {
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code, code) << s.error().message;
  }
  template <class T>
  static void ExpectCode(const Result<T>& r, ErrorCode code) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, code) << r.error().message;
  }

  TempDir dir_;
  std::unique_ptr<SqliteRecordStore> store_;
};

// ---- insert / find ---------------------------------------------------------

TEST_F(RecordStoreTest, InsertThenFindReturnsEveryField) {
  Record r = MakeRecord("tenant-a", "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b");
  r.asset_type = "webinar_recording";
  r.asset_id = "board/2026/q1";
  r.created_at = FromUnixMicros(1774746000123456);
  ASSERT_TRUE(store_->Insert(r));

  const auto found = store_->Find("tenant-a", r.context_id);
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(*found, r);
  EXPECT_EQ(found->state, RecordState::kActive);
  EXPECT_FALSE(found->destroyed_at.has_value());
}

TEST_F(RecordStoreTest, RecordsSurviveReopen) {
  const Record r = MakeRecord("tenant-a", "ctx-durable");
  ASSERT_TRUE(store_->Insert(r));
  Reopen();
  const auto found = store_->Find("tenant-a", "ctx-durable");
  ASSERT_TRUE(found);
  EXPECT_EQ(*found, r);
}

TEST_F(RecordStoreTest, DuplicateContextIdIsConflictAndKeepsTheFirst) {
  const Record first = MakeRecord("tenant-a", "ctx-1");
  ASSERT_TRUE(store_->Insert(first));
  Record second = MakeRecord("tenant-a", "ctx-1");
  second.asset_id = "other";
  second.wrapped_key = WrappedKeyFor("ctx-1", 7);
  ExpectCode(store_->Insert(second), ErrorCode::kConflict);
  const auto found = store_->Find("tenant-a", "ctx-1");
  ASSERT_TRUE(found);
  EXPECT_EQ(*found, first);
}

TEST_F(RecordStoreTest, FindUnknownIsNotFound) {
  ExpectCode(store_->Find("tenant-a", "nope"), ErrorCode::kNotFound);
}

TEST_F(RecordStoreTest, InsertRejectsInvalidRecords) {
  Record bad_id = MakeRecord("tenant-a", "has space");
  ExpectCode(store_->Insert(bad_id), ErrorCode::kInvalidArgument);
  ExpectCode(store_->Insert(MakeRecord("tenant-a", std::string(129, 'x'))),
             ErrorCode::kInvalidArgument);
  ExpectCode(store_->Insert(MakeRecord("", "ctx")), ErrorCode::kInvalidArgument);
  Record no_key = MakeRecord("tenant-a", "ctx");
  no_key.wrapped_key.clear();
  ExpectCode(store_->Insert(no_key), ErrorCode::kInvalidArgument);
  Record destroyed = MakeRecord("tenant-a", "ctx");
  destroyed.state = RecordState::kDestroyed;
  ExpectCode(store_->Insert(destroyed), ErrorCode::kInvalidArgument);
  Record with_destroyed_at = MakeRecord("tenant-a", "ctx");
  with_destroyed_at.destroyed_at = kT1;
  ExpectCode(store_->Insert(with_destroyed_at), ErrorCode::kInvalidArgument);
  ExpectCode(store_->Insert(MakeRecord("tenant-a", "ctx", 0)), ErrorCode::kInvalidArgument);
  ExpectCode(store_->Find("tenant-a", ""), ErrorCode::kInvalidArgument);
  RawDb raw(db_path());
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM records"), 0);
}

TEST_F(RecordStoreTest, InsertNeedsAUsableKekVersion) {
  ExpectCode(store_->Insert(MakeRecord("tenant-a", "ctx-v9", 9)), ErrorCode::kNotFound);
  ASSERT_TRUE(store_->AddKekVersion("tenant-a", 2, kT1));
  ASSERT_TRUE(store_->Insert(MakeRecord("tenant-a", "ctx-v1-active", 1)));  // active: OK
  ASSERT_TRUE(store_->AddKekVersion("tenant-a", 3, kT1));
  ASSERT_TRUE(store_->SetKekState("tenant-a", 2, KekState::kRetired));
  ExpectCode(store_->Insert(MakeRecord("tenant-a", "ctx-v2", 2)), ErrorCode::kConflict);
  ASSERT_TRUE(store_->DestroyAllByKekVersion("tenant-a", 1, kT1));
  ExpectCode(store_->Insert(MakeRecord("tenant-a", "ctx-v1", 1)), ErrorCode::kGone);
  EXPECT_TRUE(store_->Insert(MakeRecord("tenant-a", "ctx-v3", 3)));
}

// ---- tenant isolation --------------------------------------------------------

TEST_F(RecordStoreTest, SameContextIdInTwoTenantsAreTwoRecords) {
  const Record a = MakeRecord("tenant-a", "shared-id");
  Record b = MakeRecord("tenant-b", "shared-id");
  b.wrapped_key = WrappedKeyFor("shared-id", 1);
  ASSERT_TRUE(store_->Insert(a));
  ASSERT_TRUE(store_->Insert(b));
  EXPECT_EQ(store_->Find("tenant-a", "shared-id").value(), a);
  EXPECT_EQ(store_->Find("tenant-b", "shared-id").value(), b);
}

TEST_F(RecordStoreTest, TenantBCannotReachTenantARecords) {
  const Record a = MakeRecord("tenant-a", "only-in-a");
  ASSERT_TRUE(store_->Insert(a));

  ExpectCode(store_->Find("tenant-b", "only-in-a"), ErrorCode::kNotFound);
  ExpectCode(store_->MarkDestroyed("tenant-b", "only-in-a", kT1), ErrorCode::kNotFound);
  ExpectCode(store_->ReplaceWrappedKey("tenant-b", "only-in-a", 1, 1, WrappedKeyFor("x")),
             ErrorCode::kNotFound);
  EXPECT_TRUE(store_->ListByKekVersion("tenant-b", 1, "", 100).value().empty());
  EXPECT_EQ(store_->CountActiveByKekVersion("tenant-b", 1).value(), 0u);
  // Destroying tenant B's version 1 does not touch tenant A's version 1.
  ASSERT_TRUE(store_->AddKekVersion("tenant-b", 2, kT1));
  EXPECT_EQ(store_->DestroyAllByKekVersion("tenant-b", 1, kT1).value(), 0u);

  EXPECT_EQ(store_->Find("tenant-a", "only-in-a").value(), a);
  EXPECT_EQ(store_->ListKekVersions("tenant-a").value().front().state, KekState::kCurrent);
  // A tenant name that is a prefix or case variant is another tenant.
  ExpectCode(store_->Find("tenant-", "only-in-a"), ErrorCode::kNotFound);
  ExpectCode(store_->Find("TENANT-A", "only-in-a"), ErrorCode::kNotFound);
}

// ---- destroy -------------------------------------------------------------------

TEST_F(RecordStoreTest, MarkDestroyedShredsTheWrappedKey) {
  const Record r = MakeRecord("tenant-a", "ctx-shred");
  ASSERT_TRUE(store_->Insert(r));
  ASSERT_TRUE(store_->MarkDestroyed("tenant-a", "ctx-shred", kT1));

  const auto found = store_->Find("tenant-a", "ctx-shred");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->state, RecordState::kDestroyed);
  EXPECT_EQ(found->destroyed_at, kT1);
  EXPECT_TRUE(found->wrapped_key.empty());
  EXPECT_EQ(found->asset_id, r.asset_id);  // metadata stays for GET and audit

  RawDb raw(db_path());
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM records WHERE context_id = 'ctx-shred'"
                         " AND wrapped_key IS NULL AND state = 'destroyed'"),
            1);
}

TEST_F(RecordStoreTest, ShreddedKeyBytesAreGoneFromTheFiles) {
  // A long, distinctive wrapped key: if any copy survives in the database or
  // the WAL, the byte search finds it.
  Record r = MakeRecord("tenant-a", "ctx-bytes");
  r.wrapped_key.assign(60, 0);
  for (std::size_t i = 0; i < r.wrapped_key.size(); ++i) {
    r.wrapped_key[i] = static_cast<std::uint8_t>(0xc5 ^ (i * 37));
  }
  for (int i = 0; i < 50; ++i) {  // neighbours on the same page
    ASSERT_TRUE(store_->Insert(MakeRecord("tenant-a", "filler-" + std::to_string(i))));
  }
  ASSERT_TRUE(store_->Insert(r));
  const auto db = db_path();
  const auto wal = std::filesystem::path(db.string() + "-wal");
  ASSERT_TRUE(testing::Contains(testing::ReadFileBytes(db), r.wrapped_key) ||
              testing::Contains(testing::ReadFileBytes(wal), r.wrapped_key))
      << "the search must be able to see the key before it is shredded";

  ASSERT_TRUE(store_->MarkDestroyed("tenant-a", "ctx-bytes", kT1));
  EXPECT_FALSE(testing::Contains(testing::ReadFileBytes(db), r.wrapped_key));
  EXPECT_FALSE(testing::Contains(testing::ReadFileBytes(wal), r.wrapped_key));
  store_.reset();
  EXPECT_FALSE(testing::Contains(testing::ReadFileBytes(db), r.wrapped_key));
}

TEST_F(RecordStoreTest, DestroyTwiceIsGoneAndUnknownIsNotFound) {
  ASSERT_TRUE(store_->Insert(MakeRecord("tenant-a", "ctx-2x")));
  ASSERT_TRUE(store_->MarkDestroyed("tenant-a", "ctx-2x", kT1));
  ExpectCode(store_->MarkDestroyed("tenant-a", "ctx-2x", kT1), ErrorCode::kGone);
  ExpectCode(store_->MarkDestroyed("tenant-a", "never", kT1), ErrorCode::kNotFound);
  // The first destroy time is kept.
  EXPECT_EQ(store_->Find("tenant-a", "ctx-2x").value().destroyed_at, kT1);
}

// ---- rewrap support ----------------------------------------------------------

TEST_F(RecordStoreTest, ListByKekVersionPagesThroughActiveRecordsInOrder) {
  std::vector<std::string> expected;
  for (int i = 0; i < 25; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "ctx-%02d", 24 - i);  // inserted in reverse order
    ASSERT_TRUE(store_->Insert(MakeRecord("tenant-a", id)));
    if (i % 5 != 0) expected.emplace_back(id);
  }
  for (int i = 0; i < 25; i += 5) {
    char id[16];
    std::snprintf(id, sizeof id, "ctx-%02d", 24 - i);
    ASSERT_TRUE(store_->MarkDestroyed("tenant-a", id, kT1));  // destroyed: not listed
  }
  ASSERT_TRUE(store_->AddKekVersion("tenant-a", 2, kT1));
  ASSERT_TRUE(store_->Insert(MakeRecord("tenant-a", "ctx-v2", 2)));  // other version
  std::sort(expected.begin(), expected.end());

  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  for (;;) {
    const auto page = store_->ListByKekVersion("tenant-a", 1, cursor, 7);
    ASSERT_TRUE(page);
    if (page->empty()) break;
    ++pages;
    EXPECT_LE(page->size(), 7u);
    for (const auto& r : *page) {
      EXPECT_EQ(r.kek_version, 1u);
      EXPECT_EQ(r.wrapped_key, WrappedKeyFor(r.context_id));
      seen.push_back(r.context_id);
    }
    cursor = page->back().context_id;
  }
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(store_->CountActiveByKekVersion("tenant-a", 1).value(), expected.size());
  EXPECT_EQ(store_->CountActiveByKekVersion("tenant-a", 2).value(), 1u);
}

TEST_F(RecordStoreTest, ListByKekVersionRejectsBadLimits) {
  ExpectCode(store_->ListByKekVersion("tenant-a", 1, "", 0), ErrorCode::kInvalidArgument);
  ExpectCode(store_->ListByKekVersion("tenant-a", 1, "", kMaxListLimit + 1),
             ErrorCode::kInvalidArgument);
  EXPECT_TRUE(store_->ListByKekVersion("tenant-a", 1, "", kMaxListLimit));
}

TEST_F(RecordStoreTest, ReplaceWrappedKeyIsCompareAndSet) {
  ASSERT_TRUE(store_->Insert(MakeRecord("tenant-a", "ctx-rw")));
  ASSERT_TRUE(store_->AddKekVersion("tenant-a", 2, kT1));
  const auto new_key = WrappedKeyFor("ctx-rw", 2);

  ASSERT_TRUE(store_->ReplaceWrappedKey("tenant-a", "ctx-rw", 1, 2, new_key));
  auto found = store_->Find("tenant-a", "ctx-rw").value();
  EXPECT_EQ(found.kek_version, 2u);
  EXPECT_EQ(found.wrapped_key, new_key);

  // A second rewrap that still expects version 1 lost the race.
  ExpectCode(store_->ReplaceWrappedKey("tenant-a", "ctx-rw", 1, 2, WrappedKeyFor("ctx-rw", 3)),
             ErrorCode::kConflict);
  EXPECT_EQ(store_->Find("tenant-a", "ctx-rw").value().wrapped_key, new_key);

  ExpectCode(store_->ReplaceWrappedKey("tenant-a", "nope", 1, 2, new_key), ErrorCode::kNotFound);
  ExpectCode(store_->ReplaceWrappedKey("tenant-a", "ctx-rw", 2, 7, new_key), ErrorCode::kNotFound);
  ExpectCode(store_->ReplaceWrappedKey("tenant-a", "ctx-rw", 2, 2, {}),
             ErrorCode::kInvalidArgument);
  ASSERT_TRUE(store_->MarkDestroyed("tenant-a", "ctx-rw", kT1));
  ExpectCode(store_->ReplaceWrappedKey("tenant-a", "ctx-rw", 2, 2, new_key), ErrorCode::kGone);
  EXPECT_TRUE(store_->Find("tenant-a", "ctx-rw").value().wrapped_key.empty());
}

TEST_F(RecordStoreTest, ConcurrentRewrapAndDestroyHaveOneWinner) {
  ASSERT_TRUE(store_->AddKekVersion("tenant-a", 2, kT1));
  for (int round = 0; round < 20; ++round) {
    const std::string id = "race-" + std::to_string(round);
    ASSERT_TRUE(store_->Insert(MakeRecord("tenant-a", id)));
    Status rewrap, destroy;
    std::thread t1(
        [&] { rewrap = store_->ReplaceWrappedKey("tenant-a", id, 1, 2, WrappedKeyFor(id, 2)); });
    std::thread t2([&] { destroy = store_->MarkDestroyed("tenant-a", id, kT1); });
    t1.join();
    t2.join();
    // Destroy always wins in the end; the rewrap either ran first or saw kGone.
    ASSERT_TRUE(destroy) << destroy.error().message;
    if (!rewrap) {
      EXPECT_EQ(rewrap.error().code, ErrorCode::kGone);
    }
    const auto found = store_->Find("tenant-a", id).value();
    EXPECT_EQ(found.state, RecordState::kDestroyed);
    EXPECT_TRUE(found.wrapped_key.empty());
  }
}

// ---- KEK versions ------------------------------------------------------------

TEST_F(RecordStoreTest, AddKekVersionRotatesTheCurrentVersion) {
  ASSERT_TRUE(store_->AddKekVersion("tenant-a", 2, kT1));
  ASSERT_TRUE(store_->AddKekVersion("tenant-a", 5, kT1));
  const auto versions = store_->ListKekVersions("tenant-a");
  ASSERT_TRUE(versions);
  ASSERT_EQ(versions->size(), 3u);
  EXPECT_EQ((*versions)[0], (KekVersionInfo{1, KekState::kActive, kT0, 0}));
  EXPECT_EQ((*versions)[1], (KekVersionInfo{2, KekState::kActive, kT1, 0}));
  EXPECT_EQ((*versions)[2], (KekVersionInfo{5, KekState::kCurrent, kT1, 0}));
  // Tenant B is untouched.
  EXPECT_EQ(store_->ListKekVersions("tenant-b").value().size(), 1u);
  EXPECT_TRUE(store_->ListKekVersions("tenant-c").value().empty());
}

TEST_F(RecordStoreTest, AddKekVersionRefusesOldOrZeroVersions) {
  ASSERT_TRUE(store_->AddKekVersion("tenant-a", 3, kT1));
  ExpectCode(store_->AddKekVersion("tenant-a", 3, kT1), ErrorCode::kConflict);
  ExpectCode(store_->AddKekVersion("tenant-a", 2, kT1), ErrorCode::kConflict);
  ExpectCode(store_->AddKekVersion("tenant-a", 0, kT1), ErrorCode::kInvalidArgument);
  ExpectCode(store_->AddKekVersion("", 9, kT1), ErrorCode::kInvalidArgument);
  const auto versions = store_->ListKekVersions("tenant-a").value();
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[1].version, 3u);
  EXPECT_EQ(versions[1].state, KekState::kCurrent);
}

TEST_F(RecordStoreTest, SetKekStateFollowsTheLifecycle) {
  ExpectCode(store_->SetKekState("tenant-a", 1, KekState::kRetired), ErrorCode::kConflict);
  ExpectCode(store_->SetKekState("tenant-a", 1, KekState::kCurrent), ErrorCode::kInvalidArgument);
  ExpectCode(store_->SetKekState("tenant-a", 42, KekState::kRetired), ErrorCode::kNotFound);

  ASSERT_TRUE(store_->Insert(MakeRecord("tenant-a", "ctx-old")));
  ASSERT_TRUE(store_->AddKekVersion("tenant-a", 2, kT1));
  // Records still use version 1: neither retired nor destroyed without force.
  ExpectCode(store_->SetKekState("tenant-a", 1, KekState::kRetired), ErrorCode::kConflict);
  ExpectCode(store_->SetKekState("tenant-a", 1, KekState::kDestroyed), ErrorCode::kConflict);
  ASSERT_TRUE(store_->ReplaceWrappedKey("tenant-a", "ctx-old", 1, 2, WrappedKeyFor("ctx-old", 2)));
  ASSERT_TRUE(store_->SetKekState("tenant-a", 1, KekState::kRetired));
  ASSERT_TRUE(store_->SetKekState("tenant-a", 1, KekState::kRetired));  // same state
  ASSERT_TRUE(store_->SetKekState("tenant-a", 1, KekState::kActive));
  ASSERT_TRUE(store_->SetKekState("tenant-a", 1, KekState::kDestroyed));
  ASSERT_TRUE(store_->SetKekState("tenant-a", 1, KekState::kDestroyed));
  ExpectCode(store_->SetKekState("tenant-a", 1, KekState::kActive), ErrorCode::kGone);
  EXPECT_EQ(store_->ListKekVersions("tenant-a").value()[0].state, KekState::kDestroyed);
}

TEST_F(RecordStoreTest, DestroyAllByKekVersionShredsItsRecordsAtomically) {
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(store_->Insert(MakeRecord("tenant-a", "v1-" + std::to_string(i))));
  }
  ASSERT_TRUE(store_->MarkDestroyed("tenant-a", "v1-0", kT0));
  ExpectCode(store_->DestroyAllByKekVersion("tenant-a", 1, kT1), ErrorCode::kConflict);  // current
  ASSERT_TRUE(store_->AddKekVersion("tenant-a", 2, kT1));
  ASSERT_TRUE(store_->Insert(MakeRecord("tenant-a", "v2-0", 2)));

  const auto shredded = store_->DestroyAllByKekVersion("tenant-a", 1, kT1);
  ASSERT_TRUE(shredded);
  EXPECT_EQ(*shredded, 29u);
  for (int i = 1; i < 30; ++i) {
    const auto r = store_->Find("tenant-a", "v1-" + std::to_string(i)).value();
    EXPECT_EQ(r.state, RecordState::kDestroyed);
    EXPECT_TRUE(r.wrapped_key.empty());
    EXPECT_EQ(r.destroyed_at, kT1);
  }
  EXPECT_EQ(store_->Find("tenant-a", "v1-0").value().destroyed_at, kT0);  // kept
  EXPECT_EQ(store_->Find("tenant-a", "v2-0").value().state, RecordState::kActive);
  EXPECT_EQ(store_->ListKekVersions("tenant-a").value()[0].state, KekState::kDestroyed);
  EXPECT_EQ(store_->CountActiveByKekVersion("tenant-a", 1).value(), 0u);
  ExpectCode(store_->DestroyAllByKekVersion("tenant-a", 1, kT1), ErrorCode::kGone);
  ExpectCode(store_->DestroyAllByKekVersion("tenant-a", 9, kT1), ErrorCode::kNotFound);
  RawDb raw(db_path());
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM records WHERE kek_version = 1"
                         " AND wrapped_key IS NOT NULL"),
            0);
}

TEST_F(RecordStoreTest, ReserveWrapsAccumulatesDurably) {
  EXPECT_EQ(store_->ReserveWraps("tenant-a", 1, 1000).value(), 1000u);
  EXPECT_EQ(store_->ReserveWraps("tenant-a", 1, 24).value(), 1024u);
  EXPECT_EQ(store_->ReserveWraps("tenant-b", 1, 5).value(), 5u);
  Reopen();
  EXPECT_EQ(store_->ListKekVersions("tenant-a").value()[0].wraps_reserved, 1024u);
  EXPECT_EQ(store_->ReserveWraps("tenant-a", 1, kMaxWrapReservation).value(),
            1024u + kMaxWrapReservation);

  ExpectCode(store_->ReserveWraps("tenant-a", 1, 0), ErrorCode::kInvalidArgument);
  ExpectCode(store_->ReserveWraps("tenant-a", 1, kMaxWrapReservation + 1),
             ErrorCode::kInvalidArgument);
  ExpectCode(store_->ReserveWraps("tenant-a", 7, 1), ErrorCode::kNotFound);
  ASSERT_TRUE(store_->AddKekVersion("tenant-a", 2, kT1));
  EXPECT_EQ(store_->ReserveWraps("tenant-a", 1, 1).value(), 1025u + kMaxWrapReservation);
  ASSERT_TRUE(store_->SetKekState("tenant-a", 1, KekState::kRetired));
  ExpectCode(store_->ReserveWraps("tenant-a", 1, 1), ErrorCode::kConflict);
  ASSERT_TRUE(store_->SetKekState("tenant-a", 1, KekState::kDestroyed));
  ExpectCode(store_->ReserveWraps("tenant-a", 1, 1), ErrorCode::kGone);
}

TEST_F(RecordStoreTest, ConcurrentReservationsNeverLoseACount) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        if (!store_->ReserveWraps("tenant-a", 1, 3)) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store_->ListKekVersions("tenant-a").value()[0].wraps_reserved, 8u * 25u * 3u);
}

// ---- policy documents --------------------------------------------------------

TEST_F(RecordStoreTest, PolicyVersionsAreMonotonicPerTenantWithHistory) {
  EXPECT_FALSE(store_->GetPolicy("tenant-a").value().has_value());
  EXPECT_EQ(store_->PutPolicy("tenant-a", R"({"default":"allow","rules":[]})", kT0).value(), 1u);
  EXPECT_EQ(store_->PutPolicy("tenant-a", R"({"default":"deny","rules":[]})", kT1).value(), 2u);
  EXPECT_EQ(store_->PutPolicy("tenant-b", R"({"default":"allow","rules":[]})", kT1).value(), 1u);

  Reopen();
  const auto a = store_->GetPolicy("tenant-a").value();
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(*a, (PolicyDocumentRow{2, R"({"default":"deny","rules":[]})", kT1}));
  EXPECT_EQ(store_->GetPolicy("tenant-b").value()->version, 1u);
  EXPECT_FALSE(store_->GetPolicy("tenant-c").value().has_value());
  ExpectCode(store_->PutPolicy("tenant-a", "", kT1), ErrorCode::kInvalidArgument);

  RawDb raw(db_path());
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM policies WHERE tenant = 'tenant-a'"), 2);
}

// ---- bulk load -----------------------------------------------------------------

TEST_F(RecordStoreTest, BulkInsertLoadsInChunks) {
  store_.reset();
  auto opened = SqliteRecordStore::Open({.path = db_path(), .bulk_chunk_rows = 1000});
  ASSERT_TRUE(opened);
  store_ = std::move(*opened);
  std::vector<Record> rows;
  for (int i = 0; i < 5500; ++i)
    rows.push_back(MakeRecord("tenant-a", "bulk-" + std::to_string(i)));
  ASSERT_TRUE(store_->BulkInsert(rows));
  EXPECT_EQ(store_->CountActiveByKekVersion("tenant-a", 1).value(), 5500u);
  EXPECT_EQ(store_->Find("tenant-a", "bulk-4321").value(), rows[4321]);

  // A duplicate fails its chunk; earlier chunks stay, later ones never run.
  std::vector<Record> more;
  for (int i = 0; i < 2500; ++i)
    more.push_back(MakeRecord("tenant-a", "more-" + std::to_string(i)));
  more[1500] = MakeRecord("tenant-a", "bulk-1");
  ExpectCode(store_->BulkInsert(more), ErrorCode::kConflict);
  EXPECT_TRUE(store_->Find("tenant-a", "more-999"));
  ExpectCode(store_->Find("tenant-a", "more-1000"), ErrorCode::kNotFound);
  ExpectCode(store_->Find("tenant-a", "more-2400"), ErrorCode::kNotFound);

  std::vector<Record> invalid{MakeRecord("tenant-a", "ok-1"), MakeRecord("tenant-a", "bad id")};
  ExpectCode(store_->BulkInsert(invalid), ErrorCode::kInvalidArgument);
  ExpectCode(store_->Find("tenant-a", "ok-1"), ErrorCode::kNotFound);
}

// ---- schema, files, health -------------------------------------------------------

TEST_F(RecordStoreTest, EmptyFileIsMigratedToTheLatestSchemaOnce) {
  store_.reset();
  RawDb raw(db_path());
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM schema_version"), 3);
  EXPECT_EQ(raw.QueryInt("SELECT max(version) FROM schema_version"), 3);
  EXPECT_EQ(raw.QueryInt("PRAGMA user_version"), 3);
  EXPECT_EQ(raw.QueryText("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(IndexNames(raw), (std::vector<std::string>{"kek_versions_one_current", "records_by_kek",
                                                       "used_jtis_by_expiry"}));
  Reopen();
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM schema_version"), 3);
  EXPECT_TRUE(store_->CheckHealth());
}

// A file written by the first release (schema 1) is upgraded in place on open.
TEST_F(RecordStoreTest, SchemaOneFileIsUpgradedKeepingItsRecords) {
  ASSERT_TRUE(store_->Insert(MakeRecord("tenant-a", "kept-1")));
  store_.reset();
  {
    RawDb raw(db_path());
    ASSERT_EQ(raw.Exec("DROP TABLE used_jtis"), SQLITE_OK);
    ASSERT_EQ(raw.Exec(kSchemaOneIndexes), SQLITE_OK);
    ASSERT_EQ(raw.Exec("DELETE FROM schema_version WHERE version >= 2"), SQLITE_OK);
    ASSERT_EQ(raw.Exec("PRAGMA user_version = 1"), SQLITE_OK);
  }
  Reopen();
  RawDb raw(db_path());
  EXPECT_EQ(raw.QueryInt("PRAGMA user_version"), 3);
  EXPECT_EQ(IndexNames(raw), (std::vector<std::string>{"kek_versions_one_current", "records_by_kek",
                                                       "used_jtis_by_expiry"}));
  EXPECT_TRUE(store_->Find("tenant-a", "kept-1"));
  auto recorded = store_->RecordJtiIfNew("tenant-a", "j-1", kT1, kT0);
  ASSERT_TRUE(recorded);
  EXPECT_TRUE(*recorded);
}

// Schema 3 drops the two indexes of schema 1 that nothing queried; records
// and their lookups by context id are untouched.
TEST_F(RecordStoreTest, SchemaTwoFileLosesItsUnusedIndexesAndKeepsItsRecords) {
  ASSERT_TRUE(store_->Insert(MakeRecord("tenant-a", "kept-2")));
  store_.reset();
  {
    RawDb raw(db_path());
    ASSERT_EQ(raw.Exec(kSchemaOneIndexes), SQLITE_OK);
    ASSERT_EQ(raw.Exec("DELETE FROM schema_version WHERE version = 3"), SQLITE_OK);
    ASSERT_EQ(raw.Exec("PRAGMA user_version = 2"), SQLITE_OK);
    ASSERT_EQ(IndexNames(raw).size(), 5u);
  }
  Reopen();
  RawDb raw(db_path());
  EXPECT_EQ(raw.QueryInt("PRAGMA user_version"), 3);
  EXPECT_EQ(IndexNames(raw), (std::vector<std::string>{"kek_versions_one_current", "records_by_kek",
                                                       "used_jtis_by_expiry"}));
  auto kept = store_->Find("tenant-a", "kept-2");
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->asset_id, MakeRecord("tenant-a", "kept-2").asset_id);
  EXPECT_TRUE(store_->Insert(MakeRecord("tenant-a", "after-3")));
}

// Migration 3 frees only index pages, so it runs with secure_delete=FAST (a
// large store would otherwise write every freed page again); the connection
// that goes on to shred keys must have it back on.
TEST_F(RecordStoreTest, SchemaThreeMigrationLeavesSecureDeleteOnForTheWriter) {
  store_.reset();
  {
    RawDb raw(db_path());
    ASSERT_EQ(raw.Exec(kSchemaOneIndexes), SQLITE_OK);
    ASSERT_EQ(raw.Exec("DELETE FROM schema_version WHERE version = 3"), SQLITE_OK);
    ASSERT_EQ(raw.Exec("PRAGMA user_version = 2"), SQLITE_OK);
  }
  auto conn = sqlite::Connection::Open(db_path(), {.create = false, .read_only = false});
  ASSERT_TRUE(conn) << conn.error().message;
  ASSERT_TRUE(sqlite::Migrate(**conn, kT1));
  auto mode = (*conn)->Prepare("PRAGMA secure_delete");
  ASSERT_TRUE(mode);
  ASSERT_EQ(mode->Step(), SQLITE_ROW);
  EXPECT_EQ(mode->Int64(0), 1);  // ON; FAST would read 2
  RawDb raw(db_path());
  EXPECT_EQ(raw.QueryInt("PRAGMA user_version"), 3);
}

TEST_F(RecordStoreTest, SpentJtisAreRefusedUntilTheyExpireAndSurviveReopening) {
  const Instant now = kT0;
  const Instant exp = now + std::chrono::minutes(10);
  auto first = store_->RecordJtiIfNew("tenant-a", "j-1", exp, now);
  ASSERT_TRUE(first);
  EXPECT_TRUE(*first);
  auto replay = store_->RecordJtiIfNew("tenant-a", "j-1", exp, now + std::chrono::minutes(1));
  ASSERT_TRUE(replay);
  EXPECT_FALSE(*replay);
  auto other_tenant = store_->RecordJtiIfNew("tenant-b", "j-1", exp, now);
  ASSERT_TRUE(other_tenant);
  EXPECT_TRUE(*other_tenant);  // ids are per tenant
  Reopen();
  auto after_restart =
      store_->RecordJtiIfNew("tenant-a", "j-1", exp, now + std::chrono::minutes(2));
  ASSERT_TRUE(after_restart);
  EXPECT_FALSE(*after_restart) << "a spent jti was forgotten on reopening";
  auto expired = store_->RecordJtiIfNew("tenant-a", "j-1", exp + std::chrono::minutes(10), exp);
  ASSERT_TRUE(expired);
  EXPECT_TRUE(*expired);  // its record expired at `exp`: a new token may reuse the id
  ExpectCode(store_->RecordJtiIfNew("tenant-a", "", exp, now), ErrorCode::kInvalidArgument);
  ExpectCode(store_->RecordJtiIfNew("tenant-a", std::string(257, 'j'), exp, now),
             ErrorCode::kInvalidArgument);
}

TEST_F(RecordStoreTest, DatabaseFileIsOwnerOnly) {
  struct stat st {};
  ASSERT_EQ(::stat(db_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(RecordStoreTest, NewerSchemaIsRefused) {
  store_.reset();
  {
    RawDb raw(db_path());
    ASSERT_EQ(raw.Exec("INSERT INTO schema_version (version, applied_at) VALUES (99, 0)"),
              SQLITE_OK);
  }
  const auto opened = SqliteRecordStore::Open({.path = db_path()});
  ExpectCode(opened, ErrorCode::kInternal);
}

TEST_F(RecordStoreTest, SchemaConstraintsRejectHalfRecordsWrittenBehindTheStore) {
  RawDb raw(db_path());
  // An active row without a key, a destroyed row with one, an unknown KEK
  // version, a second current version: the file itself refuses them.
  EXPECT_NE(raw.Exec("INSERT INTO records (tenant, context_id, asset_type, asset_id, created_at,"
                     " kek_version, wrapped_key, state) VALUES ('tenant-a','x','t','a',0,1,NULL,"
                     "'active')"),
            SQLITE_OK);
  EXPECT_NE(raw.Exec("INSERT INTO records (tenant, context_id, asset_type, asset_id, created_at,"
                     " kek_version, wrapped_key, state, destroyed_at) VALUES ('tenant-a','y','t',"
                     "'a',0,1,x'01','destroyed',5)"),
            SQLITE_OK);
  ASSERT_EQ(raw.Exec("PRAGMA foreign_keys=ON"), SQLITE_OK);
  EXPECT_NE(raw.Exec("INSERT INTO records (tenant, context_id, asset_type, asset_id, created_at,"
                     " kek_version, wrapped_key, state) VALUES ('tenant-a','z','t','a',0,77,x'01',"
                     "'active')"),
            SQLITE_OK);
  EXPECT_NE(raw.Exec("INSERT INTO kek_versions (tenant, version, state, created_at) VALUES"
                     " ('tenant-a', 9, 'current', 0)"),
            SQLITE_OK);
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM records"), 0);
}

TEST_F(RecordStoreTest, FileReplacedUnderTheStoreIsStoreUnavailable) {
  ASSERT_TRUE(store_->Insert(MakeRecord("tenant-a", "before")));
  // An operator (or an attacker) moves another file over the database while
  // the daemon runs: writes to the old, unlinked file would be lost at the
  // next start, so they must fail instead.
  const auto other = dir_.path() / "other.db";
  {
    std::ofstream out(other, std::ios::binary);
    for (int i = 0; i < 1000; ++i) out << "not a database ";
  }
  ASSERT_EQ(std::rename(other.c_str(), db_path().c_str()), 0);
  const Status s = store_->Insert(MakeRecord("tenant-a", "after"));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kStoreUnavailable);
  const Status health = store_->CheckHealth();
  ASSERT_FALSE(health);
  EXPECT_EQ(health.error().code, ErrorCode::kStoreUnavailable);
}

TEST(RecordStoreOpenTest, ZeroByteFileIsMigratedAndReopens) {
  TempDir dir;
  const auto path = dir.path() / "r.db";
  { std::ofstream touch(path, std::ios::binary); }
  ASSERT_EQ(std::filesystem::file_size(path), 0u);
  {
    auto opened = SqliteRecordStore::Open({.path = path});
    ASSERT_TRUE(opened) << opened.error().message;
    ASSERT_TRUE((*opened)->AddKekVersion("t", 1, kT0));
    ASSERT_TRUE((*opened)->Insert(MakeRecord("t", "c")));
  }
  auto reopened = SqliteRecordStore::Open({.path = path});
  ASSERT_TRUE(reopened);
  EXPECT_TRUE((*reopened)->Find("t", "c"));
  EXPECT_TRUE((*reopened)->CheckHealth());
  RawDb raw(path);
  // Every migration, once.
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM schema_version"), sqlite::LatestSchemaVersion());
}

TEST(RecordStoreOpenTest, MissingDirectoryIsStoreUnavailable) {
  TempDir dir;
  const auto opened = SqliteRecordStore::Open({.path = dir.path() / "no-such-dir" / "r.db"});
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kStoreUnavailable);
}

TEST(RecordStoreOpenTest, FileThatIsNotADatabaseIsStoreUnavailable) {
  TempDir dir;
  const auto path = dir.path() / "r.db";
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 1000; ++i) out << "this is not an sqlite database ";
  }
  const auto opened = SqliteRecordStore::Open({.path = path});
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kStoreUnavailable);
}

}  // namespace
}  // namespace kmsd::store
