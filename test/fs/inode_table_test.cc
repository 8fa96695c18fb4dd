// InodeTable's remembered names: recalled within the window with a lookup
// added, holding their inodes after the kernel forgot them, forgotten when
// the name changes (also when the change raced with the lookup), bounded,
// and dropped with the inodes only they held.
#include "inode_table.h"

#include <fcntl.h>
#include <dirent.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bcl {
namespace {

UniqueFd path_fd() { return UniqueFd(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)); }

class InodeTableNamesTest : public testing::Test {
protected:
    InodeTableNamesTest() : window_(60), table_(path_fd(), FileKey{1, 1}, FileKey{1, 1}, window_) {
        table_.set_entry_limit(16);
    }

    Inode& add(ino_t ino, mode_t type = S_IFREG) {
        return table_.add_lookup(FileKey{1, ino}, FileKey{1, ino}, type, path_fd());
    }
    static constexpr std::int64_t kSecond = 1'000'000'000;

    CoherencyWindow window_;
    InodeTable table_;
};

TEST_F(InodeTableNamesTest, ANameIsRecalledWithinTheWindowAndHoldsItsInodeAfterTheKernelForgotIt) {
    Inode& child = add(10);
    const std::int64_t t0 = CoherencyWindow::now_ns();
    table_.remember(table_.root(), "f", child, t0, table_.names_generation());
    table_.forget(child, 1);
    EXPECT_EQ(table_.size(), 1u) << "the remembered name holds the inode";

    auto found = table_.recall(table_.root(), "f", t0 + kSecond, 60 * kSecond);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->inode, &child);
    EXPECT_EQ(found->at_ns, t0);
    EXPECT_FALSE(table_.recall(table_.root(), "g", t0 + kSecond, 60 * kSecond));
    EXPECT_FALSE(table_.recall(table_.root(), "f", t0 + 61 * kSecond, 60 * kSecond)) << "past the window";
    EXPECT_TRUE(table_.recall(table_.root(), "f", t0 + 61 * kSecond, -1)) << "any age";
    // Two recalls added two lookups: the kernel returns them.
    table_.forget(child, 2);
    EXPECT_EQ(table_.size(), 1u);
}

TEST_F(InodeTableNamesTest, AChangedNameIsForgottenAndItsInodeDroppedWhenNothingElseHoldsIt) {
    Inode& dir = add(20, S_IFDIR);
    Inode& child = add(21);
    const std::uint64_t generation = table_.names_generation();
    const std::int64_t now = CoherencyWindow::now_ns();
    table_.remember(dir, "f", child, now, generation);
    dir.listing.set(std::make_shared<DirListing>());
    table_.forget(child, 1);
    table_.forget(dir, 1);
    EXPECT_EQ(table_.size(), 2u);
    table_.name_changed(dir, "f");
    EXPECT_FALSE(table_.recall(dir, "f", now, -1));
    EXPECT_EQ(table_.size(), 0u) << "neither the kernel nor a name holds them";
}

TEST_F(InodeTableNamesTest, ANameChangedDuringTheLookupIsNotRemembered) {
    Inode& dir = add(30, S_IFDIR);
    Inode& child = add(31);
    const std::uint64_t before = table_.names_generation();
    table_.name_changed(dir, "other");  // a rename or unlink that raced with the lookup
    table_.remember(dir, "f", child, CoherencyWindow::now_ns(), before);
    EXPECT_FALSE(table_.recall(dir, "f", CoherencyWindow::now_ns(), -1));
    table_.remember(dir, "f", child, CoherencyWindow::now_ns(), table_.names_generation());
    EXPECT_TRUE(table_.recall(dir, "f", CoherencyWindow::now_ns(), -1));
}

TEST_F(InodeTableNamesTest, AListingIsPublishedOnlyWhenNoNameChangedSinceItBegan) {
    Inode& dir = add(40, S_IFDIR);
    const std::uint64_t before = table_.names_generation();
    table_.name_changed(dir, "x");
    table_.publish_listing(dir, std::make_shared<DirListing>(), before);
    EXPECT_FALSE(dir.listing.get());
    table_.publish_listing(dir, std::make_shared<DirListing>(), table_.names_generation());
    EXPECT_TRUE(dir.listing.get());
    table_.name_changed(dir, "y");
    EXPECT_FALSE(dir.listing.get());
}

TEST_F(InodeTableNamesTest, TheMountsListingsShareOneBudgetOfEntries) {
    const auto full_listing = [] {
        auto listing = std::make_shared<DirListing>();
        for (std::size_t i = 0; i < DirListing::kMaxEntries; ++i)
            EXPECT_TRUE(listing->add(DirListing::Entry{std::to_string(i), i, DT_REG, static_cast<off_t>(i + 1)}));
        EXPECT_FALSE(listing->add(DirListing::Entry{"one more", 1, DT_REG, 0}));
        return listing;
    };
    constexpr std::size_t kListings = ListingBudget::kMaxEntries / DirListing::kMaxEntries;
    std::vector<Inode*> dirs;
    for (std::size_t i = 0; i <= kListings; ++i) dirs.push_back(&add(70 + i, S_IFDIR));
    for (std::size_t i = 0; i < kListings; ++i) {
        table_.publish_listing(*dirs[i], full_listing(), table_.names_generation());
        EXPECT_TRUE(dirs[i]->listing.get());
    }
    EXPECT_EQ(table_.listed(), ListingBudget::kMaxEntries);
    table_.publish_listing(*dirs[kListings], full_listing(), table_.names_generation());
    EXPECT_FALSE(dirs[kListings]->listing.get()) << "over the budget: not kept";
    table_.name_changed(*dirs[0], "x");
    EXPECT_EQ(table_.listed(), ListingBudget::kMaxEntries - DirListing::kMaxEntries);
    table_.publish_listing(*dirs[kListings], full_listing(), table_.names_generation());
    EXPECT_TRUE(dirs[kListings]->listing.get());
}

TEST_F(InodeTableNamesTest, TheOldestNamesGoPastTheLimitWithTheInodesOnlyTheyHeld) {
    table_.set_entry_limit(2);
    const std::int64_t now = CoherencyWindow::now_ns();
    Inode* children[3];
    for (ino_t i = 0; i < 3; ++i) {
        children[i] = &add(50 + i);
        table_.remember(table_.root(), std::to_string(i), *children[i], now, table_.names_generation());
        table_.forget(*children[i], 1);
    }
    EXPECT_EQ(table_.remembered(), 2u);
    EXPECT_EQ(table_.size(), 2u);
    EXPECT_FALSE(table_.recall(table_.root(), "0", now, -1));
    EXPECT_TRUE(table_.recall(table_.root(), "2", now, -1));
}

TEST_F(InodeTableNamesTest, NamesTheKernelForgotGoOnceOlderThanTheWindowAndNoneAreKeptWithAWindowOfZero) {
    Inode& old_child = add(60);
    const std::int64_t long_ago = CoherencyWindow::now_ns() - 120 * kSecond;
    table_.remember(table_.root(), "old", old_child, long_ago, table_.names_generation());
    // The kernel forgets it: the name is past the window, so both go.
    table_.forget(old_child, 1);
    EXPECT_EQ(table_.remembered(), 0u);
    EXPECT_EQ(table_.size(), 0u);

    window_.set(0);
    Inode& child = add(61);
    table_.remember(table_.root(), "f", child, CoherencyWindow::now_ns(), table_.names_generation());
    EXPECT_EQ(table_.remembered(), 0u);
}

}  // namespace
}  // namespace bcl
