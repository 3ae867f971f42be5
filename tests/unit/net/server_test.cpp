// net::Server's write paths: frames written directly by threads other than the connection's own
// (as the relay's writer does after a group commit) and frames the connection's strand writes
// once the socket is full, against a real client over TLS on loopback.
#include "net/server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net/certificate.hpp"
#include "net/client.hpp"
#include "support/temp_dir.hpp"

namespace bc::net {
namespace {

// OpenService remembers the connections that opened; it ignores what they send.
class OpenService final : public relay::RelayService {
 public:
  void on_open(relay::ConnectionId connection) override {
    std::lock_guard lock(mu_);
    opened_.push_back(connection);
    cv_.notify_all();
  }
  void on_frame(relay::ConnectionId, ByteView) override {}
  void on_close(relay::ConnectionId) override {}
  [[nodiscard]] std::string metrics_text() const override { return {}; }

  relay::ConnectionId wait_for_open() {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return !opened_.empty(); });
    return opened_.empty() ? 0 : opened_.front();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<relay::ConnectionId> opened_;
};

// frame_of is a recognisable frame: the sender, its sequence number, then a pattern of both.
Bytes frame_of(std::uint8_t sender, std::uint32_t seq, std::size_t size) {
  Bytes out(size);
  out[0] = sender;
  for (int i = 0; i < 4; ++i) out[1 + i] = static_cast<std::uint8_t>(seq >> (24 - 8 * i));
  for (std::size_t i = 5; i < size; ++i) out[i] = static_cast<std::uint8_t>(i * 31 + seq + sender);
  return out;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cert = ensure_self_signed(dir_.path(), "127.0.0.1");
    ASSERT_TRUE(cert) << cert.error().message();
    ServerOptions options;
    options.cert_pem = cert->cert;
    options.key_pem = cert->key;
    // Room for everything the test sends, so that only the write paths are under test.
    options.limits.write_queue_max_frames = 100'000;
    options.limits.write_queue_max_bytes = 256ULL * 1024 * 1024;
    auto server = Server::create(options);
    ASSERT_TRUE(server) << server.error().message();
    server_ = std::move(server).value();
    server_->start(service_);
    client_options_.port = server_->port();
    client_options_.fingerprint = *certificate_fingerprint(cert->cert);
  }
  void TearDown() override {
    if (server_) server_->stop();
  }

  test::TempDir dir_{"bc-net-server"};
  OpenService service_;
  std::unique_ptr<Server> server_;
  ClientOptions client_options_;
};

TEST_F(ServerTest, FramesFromOtherThreadsArriveWholeAndInOrderWhileTheStrandCatchesUp) {
  auto client = Client::connect(client_options_);
  ASSERT_TRUE(client) << client.error().message();
  const relay::ConnectionId connection = service_.wait_for_open();
  ASSERT_NE(connection, 0U);

  // Two threads send 500 frames of 40-60 KiB each (several TLS records per frame), flushing
  // every few frames, for longer than the client waits before it starts reading: the socket
  // fills, the strand takes over the writing, and frames keep coming from both threads while
  // the strand writes and catches up.
  constexpr std::uint32_t kFrames = 500;
  auto size_of = [](std::uint8_t sender, std::uint32_t seq) {
    return static_cast<std::size_t>(40 * 1024 + (seq * 7919 + sender * 104729) % (20 * 1024));
  };
  std::vector<std::thread> senders;
  for (std::uint8_t sender = 1; sender <= 2; ++sender) {
    senders.emplace_back([&, sender] {
      relay::Outbox& outbox = server_->outbox();
      for (std::uint32_t seq = 0; seq < kFrames; ++seq) {
        outbox.send(connection, frame_of(sender, seq, size_of(sender, seq)));
        if (seq % 3 == 2) outbox.flush();
        if (seq % 2 == 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      outbox.flush();
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  std::uint32_t next[3] = {0, 0, 0};
  for (std::uint32_t i = 0; i < 2 * kFrames; ++i) {
    const auto frame = (*client)->receive_for(20'000);
    ASSERT_TRUE(frame) << "frame " << i << ": " << frame.error().message();
    ASSERT_GE(frame->size(), 5U);
    const std::uint8_t sender = (*frame)[0];
    ASSERT_TRUE(sender == 1 || sender == 2) << "frame " << i << " is not one that was sent";
    std::uint32_t seq = 0;
    for (int b = 0; b < 4; ++b) seq = (seq << 8) | (*frame)[1 + b];
    ASSERT_EQ(seq, next[sender]) << "sender " << int{sender} << " out of order";
    ASSERT_EQ(*frame, frame_of(sender, seq, size_of(sender, seq)))
        << "frame " << seq << " of sender " << int{sender} << " changed";
    ++next[sender];
  }
  for (auto& t : senders) t.join();
  EXPECT_EQ(next[1], kFrames);
  EXPECT_EQ(next[2], kFrames);
  EXPECT_EQ(server_->stats().write_queue_overflows, 0U);
}

}  // namespace
}  // namespace bc::net
