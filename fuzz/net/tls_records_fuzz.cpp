// libFuzzer target: the relay's TLS 1.3 record layer (net/tls_records.hpp), the first code that
// reads what a client sends after the handshake. The input chooses records for a peer to seal
// (sizes, and a small key limit so KeyUpdates occur), then changes bytes on the wire; the relay's
// side opens the stream. Nothing may crash it; an unchanged record opens to exactly what was
// sealed; a changed one never opens to data (it fails, or waits for bytes that never come).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "net/tls_records.hpp"

namespace {

struct Reader {
  const std::uint8_t* data;
  std::size_t size;
  std::size_t at = 0;
  bool more() const { return at < size; }
  std::uint8_t u8() { return at < size ? data[at++] : 0; }
  std::uint16_t u16() { return static_cast<std::uint16_t>((u8() << 8) | u8()); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using bc::net::TlsRecords;
  Reader in{data, size};
  const std::uint8_t suite_pick = in.u8();
  const std::uint16_t suite = static_cast<std::uint16_t>(0x1301 + suite_pick % 3);
  const std::size_t hash = suite == 0x1302 ? 48 : 32;
  const bc::Bytes client(hash, 0xc1);
  const bc::Bytes server(hash, 0x5e);
  auto relay = TlsRecords::create(suite, client, server);
  auto peer = TlsRecords::create(suite, server, client);  // the mirror: writes what relay reads
  if (!relay || !peer) std::abort();
  peer->set_write_key_limit(1 + in.u8() % 4);

  // Records: up to 8, each of a chosen size; the last may be a close_notify.
  std::vector<bc::Bytes> sent;
  std::vector<std::size_t> ends;  // wire offset after each sealed record (KeyUpdates included)
  bc::Bytes wire;
  const int records = 1 + in.u8() % 8;
  for (int i = 0; i < records; ++i) {
    const std::size_t n = in.u16() % (TlsRecords::kMaxPlaintext + 1);
    bc::Bytes plain(n, static_cast<std::uint8_t>(i));
    peer->seal_data(plain, wire);
    sent.push_back(std::move(plain));
    ends.push_back(wire.size());
  }
  // Changes: (offset, xor) pairs until the input ends.
  const bc::Bytes original = wire;
  while (in.more()) {
    const std::size_t at = in.u16() % wire.size();
    wire[at] ^= in.u8();
  }

  std::size_t pos = 0;
  std::size_t next = 0;  // index of the next data record expected
  while (pos < wire.size()) {
    // open() decrypts in place: compare with the bytes as they were before it.
    const bc::Bytes received(wire.begin() + static_cast<std::ptrdiff_t>(pos), wire.end());
    auto opened = relay->open(std::span(wire.data() + pos, wire.size() - pos));
    if (!opened) break;
    if (opened->kind == TlsRecords::Kind::kIncomplete) break;
    const std::size_t end = pos + opened->record_size;
    bool touched = false;
    for (std::size_t i = pos; i < end; ++i) touched = touched || received[i - pos] != original[i];
    if (touched) std::abort();  // a changed record opened
    if (opened->kind == TlsRecords::Kind::kData) {
      if (next >= sent.size() || end != ends[next]) std::abort();
      const bc::Bytes got(
          wire.begin() + static_cast<std::ptrdiff_t>(pos + opened->offset),
          wire.begin() + static_cast<std::ptrdiff_t>(pos + opened->offset + opened->length));
      if (got != sent[next]) std::abort();
      ++next;
    } else if (opened->kind != TlsRecords::Kind::kControl) {
      std::abort();  // the peer sealed no alert
    }
    pos = end;
  }
  return 0;
}
