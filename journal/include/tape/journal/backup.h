#pragma once
// A consistent copy of a journal, taken while its writer keeps appending (docs/operations.md,
// "Backup and restore"). Restore is copying the directory back and opening it.

#include <cstdint>
#include <filesystem>

#include "tape/journal/options.h"
#include "tape/journal/status.h"
#include "tape/journal/types.h"

namespace tape::journal {

struct BackupOptions {
  // Last record to copy. 0: the last complete record when the backup starts. An embedding
  // program passes its engine's durable sequence to copy exactly what it has acknowledged.
  Seq upto;
  JournalOptions journal;  // for the copy's final check and cut (segment size is read from it)
};

struct BackupReport {
  Seq first_seq;
  Seq last_seq;
  std::uint64_t segments = 0;
  std::uint64_t records = 0;
  std::uint64_t bytes_copied = 0;
};

// Copies the journal in `src` into `dst` (absent, or an empty directory): every segment file
// up to the one holding `upto`, each synced on the source before the copy (so every copied
// record is durable there too) and on `dst` after it; the copy is then cut after `upto` (bytes the
// writer added during the copy, a record it was half-way through) and checked in full (every
// checksum, every sealed segment's digest, last record == upto). Takes no lock on `src`
// and never changes it. kNotFound when `src` holds no journal; kInvalidArgument when
// `dst` is not empty or `upto` is beyond the source's end; kCorruption when the copy fails
// its check; kIoError when a segment disappears during the copy (retention removed it).
Result<BackupReport> backup_journal(const std::filesystem::path& src,
                                    const std::filesystem::path& dst,
                                    const BackupOptions& options = {});

}  // namespace tape::journal
