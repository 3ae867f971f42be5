// RelayLink::connect's retry policy: a relay that accepted the connection and then failed the
// handshake is tried again (three attempts in all); a refused connection is reported at once.
#include "client/relay_link.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "support/listener.hpp"

namespace bc::client {
namespace {

constexpr std::uint32_t kTimeoutMs = 5'000;
const Bytes kFingerprint(32, 0xab);

using test::Listener;

std::string url_of(const Listener& listener) {
  return "wss://127.0.0.1:" + std::to_string(listener.port());
}

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
  auto link = RelayLink::connect(url_of(listener), kFingerprint, kTimeoutMs);
  stop = true;
  server.join();
  ASSERT_FALSE(link);
  EXPECT_EQ(link.error().code, Errc::kUnavailable);
  EXPECT_EQ(accepted.load(), 3);
}

TEST(RelayLinkTest, ARefusedConnectionFailsAtOnceAndSaysSo) {
  Listener listener;
  const std::string url = url_of(listener);
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
