// Fuzzes the SignalMessage decoder: no crash, and every accepted input re-encodes to itself.
#include <cstdlib>

#include "wire/whisper.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const bc::ByteView input(data, size);
  auto decoded = bc::wire::decode_signal_message(input);
  if (!decoded) return 0;
  bc::Bytes again;
  bc::wire::encode_signal_message_body(decoded->fields, again);
  bc::append(again, decoded->mac);
  if (again != bc::to_bytes(input)) std::abort();
  return 0;
}
