// TlsSocket (the relay's server-side TLS) against Asio's own TLS client over loopback.
#include "net/tls_socket.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "net/certificate.hpp"
#include "support/temp_dir.hpp"

namespace bc::net {
namespace {
namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::beast::error_code;

using test::TempDir;

// pattern: n recognisable bytes, different for each seed.
std::string pattern(std::size_t n, int seed) {
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>(i * 13 + seed);
  return out;
}

// Transport is how the server end runs after the handshake: on OpenSSL (a context TlsSocket was
// not prepared for), or on TlsRecords with the suite the client offers.
struct Transport {
  const char* name;
  bool prepared;
  const char* client_suites;
};

// Connected is a TlsSocket server end and an Asio TLS client end that completed the handshake.
class TlsSocketTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    auto paths = ensure_self_signed(dir_.path(), "127.0.0.1");
    ASSERT_TRUE(paths.has_value());
    server_ctx_.use_certificate_chain_file(paths->cert.string());
    server_ctx_.use_private_key_file(paths->key.string(), ssl::context::pem);
    SSL_CTX_set_min_proto_version(server_ctx_.native_handle(), TLS1_3_VERSION);
    SSL_CTX_set_mode(server_ctx_.native_handle(), SSL_MODE_RELEASE_BUFFERS);
    // As the relay: no tickets, so the client has nothing unread and its close is a FIN, not a
    // reset.
    SSL_CTX_set_num_tickets(server_ctx_.native_handle(), 0);
    if (GetParam().prepared) TlsSocket::prepare_context(server_ctx_.native_handle());
    client_ctx_.set_verify_mode(ssl::verify_none);  // pinning is the client's own test
    ASSERT_EQ(SSL_CTX_set_ciphersuites(client_ctx_.native_handle(), GetParam().client_suites), 1);
    // Every handshake message the client receives, to see the server's KeyUpdate.
    SSL_CTX_set_msg_callback(client_ctx_.native_handle(), &TlsSocketTest::on_message);
    SSL_CTX_set_msg_callback_arg(client_ctx_.native_handle(), &client_handshake_types_);

    tcp::acceptor acceptor(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    client_ = std::make_unique<ssl::stream<tcp::socket>>(ioc_, client_ctx_);
    client_->next_layer().connect(acceptor.local_endpoint());
    server_ = std::make_unique<TlsSocket>(acceptor.accept(), server_ctx_.native_handle());

    error_code server_ec = asio::error::would_block;
    error_code client_ec = asio::error::would_block;
    server_->async_handshake([&](error_code ec) { server_ec = ec; });
    client_->async_handshake(ssl::stream_base::client, [&](error_code ec) { client_ec = ec; });
    ioc_.run();
    ioc_.restart();
    ASSERT_FALSE(server_ec) << server_ec.message();
    ASSERT_FALSE(client_ec) << client_ec.message();
    // Not taking a connection over that it could take over would cost 13 KiB per connection.
    ASSERT_EQ(server_->own_records(), GetParam().prepared);
  }

  static void on_message(int write_p, int, int content_type, const void* buf, std::size_t len, SSL*,
                         void* arg) {
    if (write_p == 0 && content_type == SSL3_RT_HANDSHAKE && len > 0) {
      static_cast<std::vector<int>*>(arg)->push_back(*static_cast<const unsigned char*>(buf));
    }
  }

  // server_read reads exactly `n` bytes through the TlsSocket.
  std::string server_read(std::size_t n, error_code& ec) {
    std::string out(n, '\0');
    asio::async_read(*server_, asio::buffer(out), [&](error_code e, std::size_t got) {
      ec = e;
      out.resize(got);
    });
    ioc_.run();
    ioc_.restart();
    return out;
  }

  // write_pieces writes `count` pieces of `size` bytes through the TlsSocket, each completing
  // before the next as the relay's writes do, and returns them in order.
  std::string write_pieces(std::size_t count, std::size_t size, error_code& ec) {
    std::string sent;
    for (std::size_t i = 0; i < count; ++i) {
      const std::string piece = pattern(size, static_cast<int>(i));
      sent += piece;
      asio::async_write(*server_, asio::buffer(piece), [&](error_code e, std::size_t) {
        if (e) ec = e;
      });
      ioc_.run();
      ioc_.restart();
    }
    return sent;
  }

  // flush_and_read flushes the held records and reads `n` bytes at the client.
  std::string flush_and_read(std::size_t n, error_code& flush_ec, error_code& read_ec) {
    flush_ec = asio::error::would_block;
    server_->async_flush([&](error_code e) { flush_ec = e; });
    std::string back(n, '\0');
    asio::async_read(*client_, asio::buffer(back), [&](error_code e, std::size_t) { read_ec = e; });
    ioc_.run();
    ioc_.restart();
    return back;
  }

  TempDir dir_;
  asio::io_context ioc_;
  ssl::context server_ctx_{ssl::context::tls_server};
  ssl::context client_ctx_{ssl::context::tls_client};
  std::unique_ptr<ssl::stream<tcp::socket>> client_;
  std::unique_ptr<TlsSocket> server_;
  std::vector<int> client_handshake_types_;
};

INSTANTIATE_TEST_SUITE_P(
    Transports, TlsSocketTest,
    ::testing::Values(Transport{"OpenSsl", false, "TLS_AES_128_GCM_SHA256"},
                      Transport{"Aes128Gcm", true, "TLS_AES_128_GCM_SHA256"},
                      Transport{"Aes256Gcm", true, "TLS_AES_256_GCM_SHA384"},
                      Transport{"ChaCha20Poly1305", true, "TLS_CHACHA20_POLY1305_SHA256"}),
    [](const ::testing::TestParamInfo<Transport>& p) { return std::string(p.param.name); });

TEST_P(TlsSocketTest, CarriesBytesBothWaysIncludingMoreThanOneRecord) {
  // From the client: 100 KiB, several TLS records.
  std::string sent(100 * 1024, '\0');
  for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<char>(i * 7 + i / 251);
  error_code write_ec;
  asio::async_write(*client_, asio::buffer(sent), [&](error_code e, std::size_t) { write_ec = e; });
  error_code read_ec;
  const std::string got = server_read(sent.size(), read_ec);
  ASSERT_FALSE(write_ec) << write_ec.message();
  ASSERT_FALSE(read_ec) << read_ec.message();
  EXPECT_EQ(got, sent);

  // From the server: a header and a payload given as two pieces arrive as one stream.
  const std::string header = "\x82\x05";
  const std::string payload = "hello";
  const std::array<asio::const_buffer, 2> pieces = {asio::buffer(header), asio::buffer(payload)};
  asio::async_write(*server_, pieces, [&](error_code e, std::size_t) { write_ec = e; });
  std::string back(header.size() + payload.size(), '\0');
  asio::async_read(*client_, asio::buffer(back), [&](error_code e, std::size_t) { read_ec = e; });
  ioc_.run();
  ioc_.restart();
  ASSERT_FALSE(write_ec) << write_ec.message();
  ASSERT_FALSE(read_ec) << read_ec.message();
  EXPECT_EQ(back, header + payload);
}

TEST_P(TlsSocketTest, CloseNotifyFromThePeerIsEof) {
  error_code client_ec;
  client_->async_shutdown([&](error_code e) { client_ec = e; });
  error_code read_ec;
  std::array<char, 16> buf{};
  server_->async_read_some(asio::buffer(buf), [&](error_code e, std::size_t) {
    read_ec = e;
    // Answer with our own close_notify so the client's shutdown completes.
    server_->async_shutdown([](error_code) {});
  });
  ioc_.run();
  EXPECT_EQ(read_ec, asio::error::eof) << read_ec.message();
}

TEST_P(TlsSocketTest, ConnectionCutWithoutCloseNotifyIsTruncated) {
  client_->next_layer().close();
  error_code read_ec;
  std::array<char, 16> buf{};
  server_->async_read_some(asio::buffer(buf), [&](error_code e, std::size_t) { read_ec = e; });
  ioc_.run();
  EXPECT_EQ(read_ec, ssl::error::stream_truncated) << read_ec.message();
}

TEST_P(TlsSocketTest, AfterTheSocketIsClosedNothingReachesOpenSsl) {
  server_->next_layer().close();
  error_code read_ec;
  error_code write_ec;
  std::array<char, 16> buf{};
  bool read_done = false;
  server_->async_read_some(asio::buffer(buf), [&](error_code e, std::size_t) {
    read_ec = e;
    read_done = true;
  });
  // The handler never runs inside the initiating call.
  EXPECT_FALSE(read_done);
  server_->async_write_some(asio::buffer(buf), [&](error_code e, std::size_t) { write_ec = e; });
  ioc_.run();
  EXPECT_TRUE(read_done);
  EXPECT_EQ(read_ec, asio::error::bad_descriptor);
  EXPECT_EQ(write_ec, asio::error::bad_descriptor);
}

TEST_P(TlsSocketTest, KeyUpdateFromTheClientIsAnsweredAndBothSidesGoOn) {
  // The client updates its key and asks the server to update its own (RFC 8446 section 4.6.3).
  ASSERT_EQ(SSL_key_update(client_->native_handle(), SSL_KEY_UPDATE_REQUESTED), 1);
  const std::string up = "after the client's key update";
  error_code write_ec;
  error_code read_ec;
  asio::async_write(*client_, asio::buffer(up), [&](error_code e, std::size_t) { write_ec = e; });
  EXPECT_EQ(server_read(up.size(), read_ec), up);
  ASSERT_FALSE(write_ec) << write_ec.message();
  ASSERT_FALSE(read_ec) << read_ec.message();

  const std::size_t before = client_handshake_types_.size();
  const std::string down = "after the server's key update";
  asio::async_write(*server_, asio::buffer(down), [&](error_code e, std::size_t) { write_ec = e; });
  std::string back(down.size(), '\0');
  asio::async_read(*client_, asio::buffer(back), [&](error_code e, std::size_t) { read_ec = e; });
  ioc_.run();
  ioc_.restart();
  ASSERT_FALSE(write_ec) << write_ec.message();
  ASSERT_FALSE(read_ec) << read_ec.message();
  EXPECT_EQ(back, down);
  // The server's answer came before its data: one KeyUpdate (handshake type 24).
  ASSERT_EQ(client_handshake_types_.size(), before + 1);
  EXPECT_EQ(client_handshake_types_.back(), SSL3_MT_KEY_UPDATE);

  // Both directions still work with the new keys.
  asio::async_write(*client_, asio::buffer(up), [&](error_code e, std::size_t) { write_ec = e; });
  EXPECT_EQ(server_read(up.size(), read_ec), up);
  ASSERT_FALSE(read_ec) << read_ec.message();
}

TEST_P(TlsSocketTest, AnAlteredRecordEndsTheConnection) {
  // A record whose ciphertext changed on the way: written by the client's TLS into a memory BIO,
  // one byte flipped, then sent on the wire.
  SSL* ssl = client_->native_handle();
  BIO* mem = BIO_new(BIO_s_mem());
  BIO* wire_bio = SSL_get_wbio(ssl);
  BIO_up_ref(wire_bio);
  SSL_set0_wbio(ssl, mem);
  std::size_t written = 0;
  ASSERT_EQ(SSL_write_ex(ssl, "tampered", 8, &written), 1);
  std::string record(static_cast<std::size_t>(BIO_ctrl_pending(mem)), '\0');
  ASSERT_EQ(BIO_read(mem, record.data(), static_cast<int>(record.size())),
            static_cast<int>(record.size()));
  SSL_set0_wbio(ssl, wire_bio);
  record[record.size() - 3] ^= 0x40;
  asio::write(client_->next_layer(), asio::buffer(record));

  error_code read_ec;
  std::array<char, 16> buf{};
  server_->async_read_some(asio::buffer(buf), [&](error_code e, std::size_t) { read_ec = e; });
  ioc_.run();
  EXPECT_TRUE(read_ec) << "an altered record was accepted";
  EXPECT_NE(read_ec, asio::error::eof);
}

TEST_P(TlsSocketTest, HeldWritesLeaveWithTheFlushInOrder) {
  server_->hold_writes(true);
  error_code write_ec;
  const std::string sent = write_pieces(50, 100, write_ec);
  ASSERT_FALSE(write_ec) << write_ec.message();
  ::usleep(20'000);  // loopback delivers at once what was sent
  if (GetParam().prepared) {
    // Every write completed, yet nothing went out: the records wait for the flush.
    EXPECT_TRUE(server_->has_unsent());
    EXPECT_EQ(client_->next_layer().available(), 0U);
  } else {
    // OpenSSL writes at once; nothing is held.
    EXPECT_FALSE(server_->has_unsent());
    EXPECT_GT(client_->next_layer().available(), 0U);
  }
  server_->hold_writes(false);
  error_code flush_ec;
  error_code read_ec;
  const std::string back = flush_and_read(sent.size(), flush_ec, read_ec);
  ASSERT_FALSE(flush_ec) << flush_ec.message();
  ASSERT_FALSE(read_ec) << read_ec.message();
  EXPECT_EQ(back, sent);
  EXPECT_FALSE(server_->has_unsent());
}

TEST_P(TlsSocketTest, HeldWritesPastTheLimitAreSentWithoutAFlush) {
  server_->hold_writes(true);
  error_code write_ec;
  const std::string sent = write_pieces(TlsSocket::kMaxHeld / 1024 + 2, 1024, write_ec);
  ASSERT_FALSE(write_ec) << write_ec.message();
  // The write that took the held records past kMaxHeld sent them all: the client gets at least
  // half of that without a flush.
  ::usleep(20'000);
  ASSERT_GE(client_->next_layer().available(), TlsSocket::kMaxHeld / 2);
  std::string back(TlsSocket::kMaxHeld / 2, '\0');
  error_code read_ec;
  asio::async_read(*client_, asio::buffer(back), [&](error_code e, std::size_t) { read_ec = e; });
  ioc_.run();
  ioc_.restart();
  ASSERT_FALSE(read_ec) << read_ec.message();
  EXPECT_EQ(back, sent.substr(0, back.size()));
  EXPECT_EQ(server_->has_unsent(), GetParam().prepared);
  server_->hold_writes(false);
  error_code flush_ec;
  const std::string last = flush_and_read(sent.size() - back.size(), flush_ec, read_ec);
  ASSERT_FALSE(flush_ec) << flush_ec.message();
  ASSERT_FALSE(read_ec) << read_ec.message();
  EXPECT_EQ(last, sent.substr(back.size()));
}

TEST_P(TlsSocketTest, AFlushWaitsForASocketThatCannotTakeItAll) {
  if (!GetParam().prepared) GTEST_SKIP() << "OpenSSL writes at once: nothing is held";
  // Small socket buffers on both ends: 60 KiB of held records cannot leave in one send.
  server_->next_layer().set_option(asio::socket_base::send_buffer_size(4096));
  client_->next_layer().set_option(asio::socket_base::receive_buffer_size(4096));
  server_->hold_writes(true);
  error_code write_ec;
  const std::string sent = write_pieces(60, 1000, write_ec);
  ASSERT_FALSE(write_ec) << write_ec.message();
  server_->hold_writes(false);
  error_code flush_ec = asio::error::would_block;
  server_->async_flush([&](error_code e) { flush_ec = e; });
  // The flush cannot finish before the client reads.
  ioc_.poll();
  ioc_.restart();
  ASSERT_EQ(flush_ec, asio::error::would_block) << "the flush finished before the client read";
  std::string back(sent.size(), '\0');
  error_code read_ec;
  asio::async_read(*client_, asio::buffer(back), [&](error_code e, std::size_t) { read_ec = e; });
  ioc_.run();
  ASSERT_FALSE(flush_ec) << flush_ec.message();
  ASSERT_FALSE(read_ec) << read_ec.message();
  EXPECT_EQ(back, sent);
}

// Unit is a piece of the test stream: a 4-byte head (source, sequence number, payload length)
// and a payload recognisable by both.
Bytes unit_head(std::uint8_t source, std::uint8_t seq, std::size_t size) {
  return Bytes{source, seq, static_cast<std::uint8_t>(size >> 8), static_cast<std::uint8_t>(size)};
}
Bytes unit_payload(std::uint8_t source, std::uint8_t seq, std::size_t size) {
  const std::string p = pattern(size, source * 256 + seq);
  return Bytes(p.begin(), p.end());
}

TEST_P(TlsSocketTest, DirectFramesFromAnotherThreadInterleaveOnlyWholeWithTheStrandsWrites) {
  if (!GetParam().prepared) {
    // Only a connection on TlsRecords takes direct frames; on OpenSSL it refuses them.
    EXPECT_FALSE(server_->seal_frame(unit_head(1, 0, 1), unit_payload(1, 0, 1)));
    return;
  }
  // The client asks for a KeyUpdate: the server reads that request while another thread seals,
  // and the next record sealed, wherever it is sealed, must carry the update first.
  ASSERT_EQ(SSL_key_update(client_->native_handle(), SSL_KEY_UPDATE_REQUESTED), 1);
  const std::string up = "after the client's key update";
  error_code up_ec;
  asio::async_write(*client_, asio::buffer(up), [&](error_code e, std::size_t) { up_ec = e; });

  // Thread 1 seals 80 frames of up to 40,000 bytes (three records each at most) and sends now
  // and then; the strand writes 120 units of up to 16,000 bytes, each one record, meanwhile.
  constexpr int kDirect = 80;
  constexpr int kStrand = 120;
  auto direct_size = [](int i) { return static_cast<std::size_t>((i * 7919) % 40000 + 1); };
  auto strand_size = [](int i) { return static_cast<std::size_t>((i * 104729) % 16000 + 1); };
  std::size_t total = 0;
  for (int i = 0; i < kDirect; ++i) total += 4 + direct_size(i);
  for (int i = 0; i < kStrand; ++i) total += 4 + strand_size(i);

  std::string back(total, '\0');
  error_code read_ec = asio::error::would_block;
  asio::async_read(*client_, asio::buffer(back), [&](error_code e, std::size_t) { read_ec = e; });
  std::string got_up(up.size(), '\0');
  error_code server_read_ec = asio::error::would_block;
  asio::async_read(*server_, asio::buffer(got_up),
                   [&](error_code e, std::size_t) { server_read_ec = e; });

  std::atomic<int> refused{0};
  std::thread direct([&] {
    for (int i = 0; i < kDirect; ++i) {
      const auto seq = static_cast<std::uint8_t>(i);
      if (!server_->seal_frame(unit_head(1, seq, direct_size(i)),
                               unit_payload(1, seq, direct_size(i)))) {
        refused.fetch_add(1);
      }
      if (i % 3 == 2) (void)server_->send_direct();
    }
  });
  int written = 0;
  error_code write_ec;
  std::vector<Bytes> units(kStrand);
  std::function<void()> write_next = [&] {
    if (written == kStrand) return;
    const auto seq = static_cast<std::uint8_t>(written);
    units[written] = unit_head(2, seq, strand_size(written));
    const Bytes payload = unit_payload(2, seq, strand_size(written));
    units[written].insert(units[written].end(), payload.begin(), payload.end());
    asio::async_write(*server_, asio::buffer(units[written]), [&](error_code e, std::size_t) {
      if (e) write_ec = e;
      ++written;
      if (!e) write_next();
    });
  };
  write_next();
  while (written < kStrand && !write_ec) ioc_.run_for(std::chrono::milliseconds(10));
  direct.join();
  ASSERT_FALSE(write_ec) << write_ec.message();
  EXPECT_EQ(refused.load(), 0);
  // What the last direct send left, the strand sends (as Session does after a kPending).
  error_code flush_ec = asio::error::would_block;
  server_->async_flush([&](error_code e) { flush_ec = e; });
  ioc_.run();
  ioc_.restart();
  ASSERT_FALSE(flush_ec) << flush_ec.message();
  ASSERT_FALSE(read_ec) << read_ec.message();
  ASSERT_FALSE(up_ec) << up_ec.message();
  ASSERT_FALSE(server_read_ec) << server_read_ec.message();
  EXPECT_EQ(got_up, up);
  EXPECT_FALSE(server_->has_unsent());

  // The stream is the two sequences, each whole and in order, interleaved unit by unit.
  int next[3] = {0, 0, 0};
  std::size_t at = 0;
  while (at + 4 <= back.size()) {
    const auto source = static_cast<std::uint8_t>(back[at]);
    const auto seq = static_cast<std::uint8_t>(back[at + 1]);
    const std::size_t size = (std::size_t{static_cast<std::uint8_t>(back[at + 2])} << 8) |
                             static_cast<std::uint8_t>(back[at + 3]);
    ASSERT_TRUE(source == 1 || source == 2) << "a unit's head was cut at byte " << at;
    ASSERT_EQ(seq, next[source]) << "source " << int{source} << " out of order at byte " << at;
    ASSERT_LE(at + 4 + size, back.size());
    const Bytes expected = unit_payload(source, seq, size);
    ASSERT_TRUE(
        std::equal(expected.begin(), expected.end(), back.begin() + at + 4,
                   [](std::uint8_t a, char b) { return a == static_cast<std::uint8_t>(b); }))
        << "unit " << int{seq} << " of source " << int{source} << " was cut or mixed";
    ++next[source];
    at += 4 + size;
  }
  EXPECT_EQ(at, back.size());
  EXPECT_EQ(next[1], kDirect);
  EXPECT_EQ(next[2], kStrand);
  // The server answered the client's KeyUpdate request, once.
  EXPECT_EQ(std::count(client_handshake_types_.begin(), client_handshake_types_.end(),
                       SSL3_MT_KEY_UPDATE),
            1);
}

TEST_P(TlsSocketTest, ADirectSendTheSocketCannotTakeIsLeftToTheStrand) {
  if (!GetParam().prepared) GTEST_SKIP() << "only a connection on TlsRecords takes direct frames";
  server_->next_layer().set_option(asio::socket_base::send_buffer_size(4096));
  client_->next_layer().set_option(asio::socket_base::receive_buffer_size(4096));
  const Bytes head = unit_head(1, 0, 60000);
  const Bytes payload = unit_payload(1, 0, 60000);
  ASSERT_TRUE(server_->seal_frame(head, payload));
  EXPECT_EQ(server_->send_direct(), TlsSocket::Direct::kPending);
  EXPECT_TRUE(server_->has_unsent());
  // The strand waits for the socket and sends the rest once the client reads.
  error_code flush_ec = asio::error::would_block;
  server_->async_flush([&](error_code e) { flush_ec = e; });
  std::string back(head.size() + payload.size(), '\0');
  error_code read_ec;
  asio::async_read(*client_, asio::buffer(back), [&](error_code e, std::size_t) { read_ec = e; });
  ioc_.run();
  ioc_.restart();
  ASSERT_FALSE(flush_ec) << flush_ec.message();
  ASSERT_FALSE(read_ec) << read_ec.message();
  EXPECT_TRUE(std::equal(head.begin(), head.end(), back.begin(),
                         [](std::uint8_t a, char b) { return a == static_cast<std::uint8_t>(b); }));
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), back.begin() + 4,
                         [](std::uint8_t a, char b) { return a == static_cast<std::uint8_t>(b); }));
  EXPECT_EQ(server_->send_direct(), TlsSocket::Direct::kSent);

  // After close_notify nothing more is sealed.
  error_code shutdown_ec = asio::error::would_block;
  server_->async_shutdown([&](error_code e) { shutdown_ec = e; });
  ioc_.run();
  ASSERT_FALSE(shutdown_ec) << shutdown_ec.message();
  EXPECT_FALSE(server_->seal_frame(head, payload));
}

}  // namespace
}  // namespace bc::net
