// TlsRecords: the TLS 1.3 record layer (RFC 8446 section 5) of the server side of one connection
// whose handshake OpenSSL completed, keyed from the two application traffic secrets. Internal to
// src/net: TlsSocket hands a connection to it right after the handshake and frees the OpenSSL
// `SSL` object, which alone costs about 13 KiB per connection for as long as it lives, against
// about 200 bytes here. This is what kernel TLS does after a user-space handshake, done in the
// relay itself because a kernel without the `tls` module offers nothing.
//
// What it does: AEAD protection of records with the negotiated suite (TLS_AES_128_GCM_SHA256,
// TLS_AES_256_GCM_SHA384 or TLS_CHACHA20_POLY1305_SHA256), a per-record nonce from the sequence
// number, content-type hiding and padding removal, alerts (close_notify is an orderly end, any
// other alert an error), KeyUpdate in both directions (RFC 8446 section 4.6.3), and a key update
// of its own well before the AEAD's record limit (section 5.5). What it refuses, ending the
// connection with an alert: any other post-handshake handshake message (the relay sends no
// tickets and asks for no client certificate, so a peer has no reason to send one), a
// handshake message split across records, and every malformed or unauthenticated record.
//
// No socket here: seal() appends records to a buffer and open() decrypts one record in place, so
// the logic is tested (and fuzzed) without a network.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/bytes.hpp"
#include "core/result.hpp"

namespace bc::net {

class TlsRecords {
 public:
  static constexpr std::size_t kHeaderSize = 5;
  static constexpr std::size_t kTagSize = 16;
  static constexpr std::size_t kMaxPlaintext = 16 * 1024;
  // The largest record a peer may send: plaintext, content type and padding limited to 2^14 + 256
  // bytes of ciphertext (section 5.2).
  static constexpr std::size_t kMaxRecord = kHeaderSize + kMaxPlaintext + 256;
  // Added to the plaintext by seal(): header, content type byte, tag.
  static constexpr std::size_t kOverhead = kHeaderSize + 1 + kTagSize;

  // Alert descriptions (section 6).
  static constexpr std::uint8_t kCloseNotify = 0;
  static constexpr std::uint8_t kUnexpectedMessage = 10;
  static constexpr std::uint8_t kBadRecordMac = 20;
  static constexpr std::uint8_t kRecordOverflow = 22;
  static constexpr std::uint8_t kDecodeError = 50;

  // create keys both directions of the server side. `cipher_suite` is the IANA code (0x1301,
  // 0x1302, 0x1303); `client_secret` and `server_secret` are client_/server_application_traffic_
  // secret_0, as long as the suite's hash. Fails with kUnsupportedVersion for any other suite,
  // kMalformed for a secret of the wrong length, kInternal when OpenSSL cannot derive the keys.
  [[nodiscard]] static Result<TlsRecords> create(std::uint16_t cipher_suite, ByteView client_secret,
                                                 ByteView server_secret);

  TlsRecords(TlsRecords&& other) noexcept;
  TlsRecords& operator=(TlsRecords&& other) noexcept;
  TlsRecords(const TlsRecords&) = delete;
  TlsRecords& operator=(const TlsRecords&) = delete;
  ~TlsRecords();

  // seal_data appends to `out` the records that carry `data` (at most kMaxPlaintext bytes): one
  // application_data record, preceded by a KeyUpdate when one is due (the peer asked for it, or
  // the write key is near its limit). `out` grows by data.size() + kOverhead, or twice kOverhead
  // plus 4 more with a KeyUpdate.
  void seal_data(ByteView data, Bytes& out) { seal_data({}, data, out); }
  // This form seals `head` followed by `data` as one record (together at most kMaxPlaintext
  // bytes): a WebSocket frame header and the start of its payload, without copying them together
  // first.
  void seal_data(ByteView head, ByteView data, Bytes& out);
  // seal_alert appends one alert record (close_notify is a warning, anything else fatal).
  void seal_alert(std::uint8_t description, Bytes& out);

  enum class Kind {
    kIncomplete,   // `in` does not hold a whole record yet
    kData,         // application data at [offset, offset + length) of `in` (length may be 0)
    kCloseNotify,  // the peer ended the connection in order
    kControl,      // a KeyUpdate, already applied; nothing for the caller
  };
  struct Opened {
    Kind kind = Kind::kIncomplete;
    std::size_t record_size = 0;  // bytes of `in` the record took (0 when incomplete)
    std::size_t offset = 0;
    std::size_t length = 0;
  };
  // open decrypts in place the record at the front of `in`. Any error is fatal for the
  // connection: kMalformed for a bad header, length, content type or message (kLimitExceeded for
  // an oversized record), kAuthFailed for a record that does not authenticate, kUnavailable for
  // an alert other than close_notify; alert() then names the alert to send.
  [[nodiscard]] Result<Opened> open(std::span<std::uint8_t> in);

  // alert is the description to send after open() failed.
  [[nodiscard]] std::uint8_t alert() const noexcept { return alert_; }

  // For tests: records sealed and opened with the current keys.
  [[nodiscard]] std::uint64_t write_sequence() const noexcept { return write_.seq; }
  [[nodiscard]] std::uint64_t read_sequence() const noexcept { return read_.seq; }
  // For tests: the record count after which the write key is updated.
  void set_write_key_limit(std::uint64_t records) noexcept { write_key_limit_ = records; }

 private:
  // Direction is one direction's traffic secret, the key and IV derived from it, and the number
  // of records protected with them.
  struct Direction {
    std::array<std::uint8_t, 48> secret{};
    std::array<std::uint8_t, 32> key{};
    std::array<std::uint8_t, 12> iv{};
    std::uint64_t seq = 0;
  };

  TlsRecords() = default;
  [[nodiscard]] Result<void> rekey(Direction& d, ByteView secret) const;
  [[nodiscard]] Result<void> update(Direction& d) const;
  void seal_record(std::uint8_t type, ByteView head, ByteView data, Bytes& out);
  Result<Opened> failure(std::uint8_t alert, Errc code, const char* detail);
  void wipe() noexcept;

  std::uint16_t suite_ = 0;
  std::size_t hash_size_ = 0;
  std::size_t key_size_ = 0;
  Direction read_;
  Direction write_;
  bool update_requested_ = false;  // the peer asked for a KeyUpdate of ours
  std::uint64_t write_key_limit_ = std::uint64_t{1} << 23;
  std::uint8_t alert_ = 0;
};

}  // namespace bc::net
