// net::Client against peers that misbehave below TLS: its deadline covers a whole operation, not
// each read, so a peer that trickles bytes cannot hold it longer than its timeout.
#include "net/client.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <thread>

#include "support/listener.hpp"

namespace bc::net {
namespace {

using test::Listener;

TEST(ClientTest, APeerThatTricklesBytesIsGivenUpAtTheDeadlineOfTheWholeOperation) {
  Listener listener;
  std::atomic<bool> stop{false};
  // Answers the ClientHello with the header of a 16 KiB handshake record, then one byte of it
  // every 20 ms: each read gets something, the record is never complete.
  std::thread peer([&] {
    pollfd p{listener.fd(), POLLIN, 0};
    if (::poll(&p, 1, 10'000) != 1) return;
    const int c = ::accept(listener.fd(), nullptr, nullptr);
    if (c < 0) return;
    const unsigned char header[] = {0x16, 0x03, 0x03, 0x40, 0x00};
    bool sent = ::send(c, header, sizeof header, MSG_NOSIGNAL) == sizeof header;
    while (sent && !stop.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      const unsigned char byte = 0x02;
      sent = ::send(c, &byte, 1, MSG_NOSIGNAL) == 1;
    }
    ::close(c);
  });
  ClientOptions options;
  options.port = listener.port();
  options.fingerprint = Bytes(32, 0xab);
  options.timeout_ms = 300;
  // Were the deadline renewed at every read, this connect would last 16,384 x 20 ms.
  auto connecting = std::async(std::launch::async, [&] { return Client::connect(options); });
  if (connecting.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    ADD_FAILURE() << "connect with a 300 ms timeout was still waiting after 60 s";
    std::_Exit(1);  // a blocked connect cannot be abandoned
  }
  const auto client = connecting.get();
  stop = true;
  peer.join();
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, Errc::kUnavailable);
  EXPECT_NE(client.error().detail.find("timeout"), std::string::npos) << client.error().detail;
  EXPECT_TRUE(client.error().detail.starts_with("TLS handshake failed")) << client.error().detail;
}

TEST(ClientTest, APeerThatClosesDuringTheHandshakeFailsTheConnectAtOnce) {
  Listener listener;
  std::thread peer([&] {
    pollfd p{listener.fd(), POLLIN, 0};
    if (::poll(&p, 1, 10'000) != 1) return;
    const int c = ::accept(listener.fd(), nullptr, nullptr);
    if (c >= 0) ::close(c);
  });
  ClientOptions options;
  options.port = listener.port();
  options.fingerprint = Bytes(32, 0xab);
  options.timeout_ms = 60'000;
  const auto client = Client::connect(options);
  peer.join();
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, Errc::kUnavailable);
  EXPECT_TRUE(client.error().detail.starts_with("TLS handshake failed")) << client.error().detail;
  EXPECT_EQ(client.error().detail.find("timeout"), std::string::npos) << client.error().detail;
}

TEST(ClientTest, AHostThatIsNotANumericAddressIsMalformed) {
  ClientOptions options;
  options.host = "relay.example";
  options.port = 443;
  options.fingerprint = Bytes(32, 0xab);
  const auto client = Client::connect(options);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, Errc::kMalformed);
}

}  // namespace
}  // namespace bc::net
