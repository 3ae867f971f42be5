// libFuzzer target: the relay frame decoder. Whatever it accepts must re-encode to the same bytes
// (one encoding per frame); nothing it is given may crash it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "wire/relay_frames.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const bc::ByteView input(data, size);
  bc::Result<bc::wire::RelayFrame> frame = bc::wire::decode_relay_frame(input);
  if (!frame) return 0;
  bc::Result<bc::Bytes> again = bc::wire::encode_relay_frame(*frame);
  if (!again || *again != bc::Bytes(input.begin(), input.end())) std::abort();
  return 0;
}
