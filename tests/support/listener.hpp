// Listener: a listening TCP socket on 127.0.0.1 and a free port, for tests that play a peer at
// the socket level (a relay that accepts and drops, a peer that trickles bytes).
#pragma once

#include <cstdint>

namespace bc::test {

class Listener {
 public:
  Listener();
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // close stops listening: connections to the port are refused from then on.
  void close();
  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace bc::test
