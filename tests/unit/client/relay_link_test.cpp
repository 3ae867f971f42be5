// RelayLink::connect's retry policy: a relay that accepted the connection and then failed the
// handshake is tried again (three attempts in all); a refused connection is reported at once.
#include "client/relay_link.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

namespace bc::client {
namespace {

constexpr std::uint32_t kTimeoutMs = 5'000;
const Bytes kFingerprint(32, 0xab);

// Listener is a TCP socket on 127.0.0.1 and a free port.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t size = sizeof addr;
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &size), 0);
    port_ = ntohs(addr.sin_port);
  }
  ~Listener() { close(); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] std::string url() const { return "wss://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

TEST(RelayLinkTest, ARelayThatAcceptsAndDropsTheConnectionIsTriedThreeTimes) {
  Listener listener;
  std::atomic<int> accepted{0};
  std::atomic<bool> stop{false};
  // Accepts every connection and closes it at once: the TLS handshake fails each time.
  std::thread server([&] {
    while (!stop.load()) {
      pollfd p{listener.fd(), POLLIN, 0};
      if (::poll(&p, 1, 50) != 1) continue;
      const int c = ::accept(listener.fd(), nullptr, nullptr);
      if (c < 0) continue;
      ++accepted;
      ::close(c);
    }
  });
  auto link = RelayLink::connect(listener.url(), kFingerprint, kTimeoutMs);
  stop = true;
  server.join();
  ASSERT_FALSE(link);
  EXPECT_EQ(link.error().code, Errc::kUnavailable);
  EXPECT_EQ(accepted.load(), 3);
}

TEST(RelayLinkTest, ARefusedConnectionFailsAtOnceAndSaysSo) {
  Listener listener;
  const std::string url = listener.url();
  listener.close();  // nothing listens on the port any more: the connection is refused
  auto link = RelayLink::connect(url, kFingerprint, kTimeoutMs);
  ASSERT_FALSE(link);
  EXPECT_EQ(link.error().code, Errc::kUnavailable);
  // RelayLink tells a relay that is down from one that failed later by this wording of
  // net::Client (a refused connection is not retried).
  EXPECT_TRUE(link.error().detail.starts_with("cannot connect to the relay"))
      << link.error().detail;
}

}  // namespace
}  // namespace bc::client
