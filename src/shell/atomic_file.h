// atomic_file.h — a file that appears (or is replaced) whole, or not at all.
//
// PIDFILE and the EXIT_DIR marker are read by other processes the moment
// their name appears, so both are written through here: the content is
// written and fsynced in a file nobody can name (O_TMPFILE), then linked in
// under its final name; where that name already exists, or O_TMPFILE is not
// supported, through a dot-prefixed temp name with an unguessable part
// (created O_EXCL|O_NOFOLLOW, so nothing planted is followed) and a rename.
// The directory is fsynced last, so the name survives a crash too.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

namespace byed {

// Writes body as dir/name with the given mode.
bool write_file_atomically(const std::string& dir, const std::string& name,
                           std::string_view body, mode_t mode,
                           std::string* err);

// Splits a path into its directory ("." when none) and its last component.
void split_path(const std::string& path, std::string* dir, std::string* name);

}  // namespace byed
