#ifndef MODELSURGERY_FILE_COPY_H
#define MODELSURGERY_FILE_COPY_H

#include <sys/types.h>

/// Copies up to `length` bytes from `source` at `*source_offset` to `target` at its file position, inside the
/// kernel (Linux copy_file_range). Returns the bytes copied, or -1 with errno set (ENOSYS where unavailable).
ssize_t modelsurgery_copy_file_range(int source, off_t *source_offset, int target, size_t length);

#endif
