// The one source of unguessable values: handles, session tokens, share
// tokens, data-channel tokens and the boot epoch all come from here.
//
// Bytes come from getrandom(2), the kernel's CSPRNG (falling back to
// /dev/urandom where the syscall is missing). A general-purpose generator
// (absl::BitGen, std::mt19937) is not acceptable: its output can be predicted
// from earlier output, and these values are capabilities.
//
// Thread-safe; never returns fewer bytes than asked. If the kernel cannot
// supply randomness at all the process aborts: handing out a guessable
// capability is worse than not serving.
#pragma once

#include <cstddef>
#include <string>

namespace sockwire::core {

// Fills `out` with `n` bytes from the kernel CSPRNG.
void RandomBytes(void* out, size_t n);

// `bytes` random bytes as 2*bytes lowercase hex digits.
std::string RandomHex(size_t bytes);

}  // namespace sockwire::core
