// Fuzzes the PreKeySignalMessage decoder (and its inner SignalMessage): no crash, and every
// accepted input re-encodes to itself.
#include <cstdlib>

#include "wire/whisper.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const bc::ByteView input(data, size);
  auto decoded = bc::wire::decode_prekey_signal_message(input);
  if (!decoded) return 0;
  bc::Bytes again;
  bc::wire::encode_prekey_signal_message(*decoded, again);
  if (again != bc::to_bytes(input)) std::abort();
  (void)bc::wire::decode_signal_message(decoded->message);
  return 0;
}
