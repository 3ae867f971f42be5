// Fuzzes the assurance decoders: the first byte picks the decoder, the rest is its input. Whatever
// decodes must re-encode to exactly the input (one canonical form), and verifying must not crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "protocol/assurance.hpp"

namespace {

template <typename T>
void round_trip(bc::ByteView in, const T& value) {
  auto again = value.encode();
  if (!again || again->size() != in.size() || !std::equal(in.begin(), in.end(), again->begin())) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bc::protocol;
  if (size == 0) return 0;
  const bc::ByteView in(data + 1, size - 1);
  switch (data[0] % 6) {
    case 0:
      if (auto a = Assurance::decode(in)) {
        round_trip(in, *a);
        (void)verify_assurance(*a);
      }
      break;
    case 1:
      if (auto w = Withdrawal::decode(in)) {
        round_trip(in, *w);
        (void)verify_withdrawal(*w);
      }
      break;
    case 2:
      if (auto k = Acknowledgement::decode(in)) {
        const bc::Bytes again = k->encode();
        if (again.size() != in.size() || !std::equal(in.begin(), in.end(), again.begin()))
          std::abort();
      }
      break;
    case 3:
      if (auto e = EscrowInvitation::decode(in)) round_trip(in, *e);
      break;
    case 4:
      if (auto d = EscrowDeposit::decode(in)) round_trip(in, *d);
      break;
    default:
      if (auto m = AssuranceMessage::decode(in)) {
        const bc::Bytes again = m->encode();
        if (again.size() != in.size() || !std::equal(in.begin(), in.end(), again.begin()))
          std::abort();
      }
      break;
  }
  return 0;
}
