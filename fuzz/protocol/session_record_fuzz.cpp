// Fuzzes SessionRecord deserialization: no crash, and every accepted record serializes back to
// the same bytes.
#include <cstdlib>

#include "protocol/session_state.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const bc::ByteView input(data, size);
  auto record = bc::protocol::SessionRecord::deserialize(input);
  if (!record) return 0;
  bc::Bytes again;
  record->serialize_to(again);
  if (again != bc::to_bytes(input)) std::abort();
  return 0;
}
