// TlsSocket: server-side TLS over a TCP socket that OpenSSL reads and writes itself (internal to
// src/net; only its .cpp files include this header, which exposes Asio and OpenSSL types).
//
// Why not asio::ssl::stream: it keeps two 17 KiB record buffers plus an OpenSSL BIO pair with two
// more 17 KiB buffers for the life of every connection, ~68 KiB per idle connection. Here the
// SSL object reads and writes the descriptor through a small socket BIO, waits for readiness with
// async_wait (no buffer is held while a read is pending), and SSL_MODE_RELEASE_BUFFERS lets
// OpenSSL free its record buffers whenever they are empty. Nothing is buffered outside OpenSSL.
//
// It models Asio's AsyncStream (async_read_some / async_write_some) and offers the TLS handshake
// (server role) and shutdown; Beast's WebSocket stream tears it down through async_teardown
// below. Every operation of one TlsSocket must run on one strand (the socket's executor): the
// SSL object is not thread-safe, but a read and a write may be outstanding at once.
//
// Once the handshake is done, the connection moves to TlsRecords (tls_records.hpp): the traffic
// secrets OpenSSL reported through the context's key log callback (see prepare_context) key a
// record layer of a few hundred bytes, and the SSL object, about 13 KiB, is freed. This happens
// only when it is exact: TLS 1.3, a suite TlsRecords knows, both secrets seen, no tickets sent
// and nothing read past the client's Finished; otherwise OpenSSL keeps the connection.
//
// After the TCP socket is closed, no operation touches the SSL object again (the descriptor
// number may already belong to another connection): each completes with bad_descriptor.
//
// Direct sends: once on TlsRecords, another thread may seal a whole WebSocket frame into the
// socket's output (seal_frame) and send it (send_direct) while the strand reads. The sending
// half (the output buffer, the write key and sequence number, the broken and closed flags) is
// guarded by a mutex that every operation touching it takes, so records never interleave and
// sequence numbers never repeat. The caller guarantees that no WebSocket message is half written
// by the strand meanwhile and that the TCP socket stays open during the call (Session in
// server.cpp does both under its own lock).
#pragma once

#include <openssl/ssl.h>

#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/role.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "net/tls_records.hpp"

namespace bc::net {

class TlsSocket {
 public:
  using next_layer_type = boost::asio::ip::tcp::socket;
  using lowest_layer_type = next_layer_type;
  using executor_type = next_layer_type::executor_type;

  // TlsSocket takes the accepted socket and makes a server-side SSL object from `ctx`. If OpenSSL
  // cannot allocate it, every operation fails with no_memory (the connection is then dropped).
  TlsSocket(next_layer_type socket, SSL_CTX* ctx);
  ~TlsSocket();
  TlsSocket(const TlsSocket&) = delete;
  TlsSocket& operator=(const TlsSocket&) = delete;

  // prepare_context installs on a server context what TlsSocket needs to take connections off
  // OpenSSL after the handshake: the key log callback that hands it the traffic secrets (to this
  // connection's TlsSocket only; they are never written anywhere), and no session tickets.
  static void prepare_context(SSL_CTX* ctx);

  // own_records tells whether the connection runs on TlsRecords (the handshake is over and the
  // SSL object is gone).
  [[nodiscard]] bool own_records() const noexcept { return records_.has_value(); }

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  next_layer_type& next_layer() noexcept { return socket_; }
  lowest_layer_type& lowest_layer() noexcept { return socket_; }

  // async_handshake runs the server side of the TLS handshake. Handler: void(error_code).
  template <class Handler>
  auto async_handshake(Handler&& handler) {
    return boost::asio::async_compose<Handler, void(boost::beast::error_code)>(
        Op<HandshakeCall, false>{this, {}}, handler, socket_);
  }

  // async_shutdown sends close_notify; it does not wait for the peer's (the connection is closed
  // right after). Handler: void(error_code).
  template <class Handler>
  auto async_shutdown(Handler&& handler) {
    return boost::asio::async_compose<Handler, void(boost::beast::error_code)>(
        Op<ShutdownCall, false>{this, {}}, handler, socket_);
  }

  // async_read_some reads decrypted bytes into the first non-empty buffer; an orderly close_notify
  // ends with eof, a connection cut without one with stream_truncated.
  template <class MutableBuffers, class Handler>
  auto async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    boost::asio::mutable_buffer first;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      if (boost::asio::buffer_size(*it) > 0) {
        first = *it;
        break;
      }
    }
    return boost::asio::async_compose<Handler, void(boost::beast::error_code, std::size_t)>(
        Op<ReadCall, true>{this, ReadCall{first}}, handler, socket_);
  }

  // async_write_some writes up to kMaxWrite bytes of `buffers` as TLS records, all of them or an
  // error. A sequence of several buffers (a WebSocket header and its payload) is copied into one
  // so it leaves as one record rather than one per piece.
  template <class ConstBuffers, class Handler>
  auto async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    WriteCall call;
    std::size_t pieces = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      if (boost::asio::buffer_size(*it) > 0) ++pieces;
    }
    if (pieces <= 1) {
      for (auto it = boost::asio::buffer_sequence_begin(buffers);
           it != boost::asio::buffer_sequence_end(buffers); ++it) {
        if (boost::asio::buffer_size(*it) > 0) {
          const boost::asio::const_buffer b(*it);
          call.data = b.data();
          call.size = std::min(b.size(), kMaxWrite);
          break;
        }
      }
    } else {
      call.copy.resize(std::min(boost::asio::buffer_size(buffers), kMaxWrite));
      boost::asio::buffer_copy(boost::asio::buffer(call.copy), buffers);
      call.data = call.copy.data();
      call.size = call.copy.size();
    }
    return boost::asio::async_compose<Handler, void(boost::beast::error_code, std::size_t)>(
        Op<WriteCall, true>{this, std::move(call)}, handler, socket_);
  }

  // What send_direct came to.
  enum class Direct {
    kSent,     // everything sealed so far has left
    kPending,  // the socket took only part: the strand must wait for it with async_flush
    kFailed,   // the connection is broken
  };
  // seal_frame appends the records of one WebSocket frame, `head` then `payload`, to the output,
  // where send_direct or the next write or flush of the strand sends them. Refused (false,
  // nothing sealed) unless the connection runs on TlsRecords, is not broken, and has not sent
  // close_notify. Thread-safe (see above).
  [[nodiscard]] bool seal_frame(ByteView head, ByteView payload);
  // send_direct sends what waits in the output. Thread-safe (see above).
  [[nodiscard]] Direct send_direct();
  // unsent_bytes is how much of the output has not left yet. Thread-safe.
  [[nodiscard]] std::size_t unsent_bytes() const;

  // hold_writes(true) makes later writes on TlsRecords seal their records and keep them, completing
  // without a system call, until kMaxHeld bytes are kept (a write past that sends everything as
  // usual); async_flush then sends what is kept, so a burst of small writes leaves in one send.
  // hold_writes(false) before async_flush. While OpenSSL still runs the connection, writes are
  // never held.
  void hold_writes(bool on) {
    std::lock_guard lock(send_mu_);
    hold_ = on;
  }
  // has_unsent tells whether records wait to be sent (held, or a write that waits for the socket).
  [[nodiscard]] bool has_unsent() const { return unsent_bytes() > 0; }

  // async_flush sends the records held by hold_writes. Handler: void(error_code).
  template <class Handler>
  auto async_flush(Handler&& handler) {
    return boost::asio::async_compose<Handler, void(boost::beast::error_code)>(
        Op<FlushCall, false>{this, {}}, handler, socket_);
  }

  // shutdown_now sends close_notify if the socket can take it at once (for Beast's synchronous
  // teardown); never blocks.
  void shutdown_now(boost::beast::error_code& ec);

  // kMaxWrite bounds one write: one TLS record's worth of plaintext.
  static constexpr std::size_t kMaxWrite = TlsRecords::kMaxPlaintext;
  // kMaxHeld bounds the records hold_writes keeps before they are sent anyway.
  static constexpr std::size_t kMaxHeld = 64 * 1024;

 private:
  // What one SSL call came to: done (ec, n), or waiting for the socket to be readable/writable.
  enum class Want { kNothing, kRead, kWrite };
  struct Outcome {
    Want want = Want::kNothing;
    boost::beast::error_code ec;
    std::size_t n = 0;
  };

  Outcome handshake_step();
  Outcome shutdown_step();
  Outcome read_step(void* data, std::size_t size);
  Outcome write_step(const void* data, std::size_t size);
  Outcome flush_step();
  // outcome_of turns SSL_get_error for `ret` into an Outcome and clears the error queue.
  Outcome outcome_of(int ret, std::size_t n);
  // After the handshake, with TlsRecords.
  void take_over();
  Outcome records_read(void* data, std::size_t size);
  Outcome records_write(const void* data, std::size_t size);
  Outcome records_shutdown();
  Outcome flush_out();
  Outcome records_fail(const Error& error);
  void consume_in(std::size_t n);
  static void on_keylog(const SSL* ssl, const char* line);

  struct HandshakeCall {
    Outcome operator()(TlsSocket& s) const { return s.handshake_step(); }
  };
  struct ShutdownCall {
    Outcome operator()(TlsSocket& s) const { return s.shutdown_step(); }
  };
  struct FlushCall {
    Outcome operator()(TlsSocket& s) const { return s.flush_step(); }
  };
  struct ReadCall {
    boost::asio::mutable_buffer buffer;
    Outcome operator()(TlsSocket& s) const {
      if (buffer.size() == 0) return {};
      return s.read_step(buffer.data(), buffer.size());
    }
  };
  // WriteCall retries with the same bytes after a WANT_WRITE, as OpenSSL requires; `copy` owns
  // them when the caller's sequence had several pieces (its heap block never moves).
  struct WriteCall {
    const void* data = nullptr;
    std::size_t size = 0;
    std::vector<std::uint8_t> copy;
    Outcome operator()(TlsSocket& s) const {
      if (size == 0) return {};
      return s.write_step(data, size);
    }
  };

  // Op repeats `call` until OpenSSL is done, waiting for socket readiness in between. A result
  // reached before any wait is posted, never delivered inside the initiating call.
  template <class Call, bool kWithSize>
  struct Op {
    TlsSocket* socket;
    Call call;
    bool waited = false;

    template <class Self>
    void operator()(Self& self, boost::beast::error_code ec = {}) {
      if (ec) return complete(self, ec, 0);
      const bool usable = socket->ssl_ != nullptr || socket->records_.has_value();
      if (!socket->socket_.is_open() || !usable) {
        return complete(
            self, usable ? boost::asio::error::bad_descriptor : boost::asio::error::no_memory, 0);
      }
      Outcome outcome = call(*socket);
      if (outcome.want != Want::kNothing) {
        waited = true;
        socket->socket_.async_wait(
            outcome.want == Want::kRead ? next_layer_type::wait_read : next_layer_type::wait_write,
            std::move(self));
        return;
      }
      complete(self, outcome.ec, outcome.n);
    }

    template <class Self>
    void complete(Self& self, boost::beast::error_code ec, std::size_t n) {
      if (!waited) {
        waited = true;
        auto executor = socket->socket_.get_executor();
        boost::asio::post(executor,
                          [self = std::move(self), ec, n]() mutable { finish(self, ec, n); });
        return;
      }
      finish(self, ec, n);
    }

    template <class Self>
    static void finish(Self& self, boost::beast::error_code ec, std::size_t n) {
      if constexpr (kWithSize) {
        self.complete(ec, n);
      } else {
        (void)n;
        self.complete(ec);
      }
    }
  };

  next_layer_type socket_;
  SSL* ssl_ = nullptr;

  // The application traffic secrets, from the key log callback until take_over (then wiped).
  std::array<std::uint8_t, 48> client_secret_{};
  std::array<std::uint8_t, 48> server_secret_{};
  std::uint8_t client_secret_size_ = 0;
  std::uint8_t server_secret_size_ = 0;

  // The record layer after the handshake, with its buffers: `in_` holds received bytes (a
  // decrypted record being read first, at [plain_off_, plain_off_ + plain_len_)), `out_`
  // the records of the write or shutdown in progress. Both are freed whenever they are empty, so
  // an idle connection holds neither.
  std::optional<TlsRecords> records_;
  std::unique_ptr<std::uint8_t[]> in_;
  std::size_t in_start_ = 0;  // received bytes not yet consumed: [in_start_, in_start_ + in_len_)
  std::size_t in_len_ = 0;
  std::size_t record_len_ = 0;
  std::size_t plain_off_ = 0;
  std::size_t plain_len_ = 0;
  // The last receive took less than it asked for: the socket held no more, so the next read
  // that needs bytes waits for the socket (async_wait completes at once if it is readable by
  // then) instead of asking it again to hear EAGAIN.
  bool drained_ = false;
  // send_mu_ guards the sending half: out_, out_sent_, writing_, hold_, close_sent_, failed_ and
  // the record layer (whose receiving half shares a flag with its sending half).
  mutable std::mutex send_mu_;
  Bytes out_;
  std::size_t out_sent_ = 0;
  bool writing_ = false;
  bool hold_ = false;
  bool close_sent_ = false;
  bool peer_closed_ = false;
  boost::beast::error_code failed_;  // set once the connection is broken; every call returns it
};

// teardown and async_teardown let Beast's WebSocket stream end a TlsSocket: close_notify, then
// the caller closes the TCP socket.
void teardown(boost::beast::role_type role, TlsSocket& socket, boost::beast::error_code& ec);

template <class Handler>
void async_teardown(boost::beast::role_type, TlsSocket& socket, Handler&& handler) {
  socket.async_shutdown(std::forward<Handler>(handler));
}

}  // namespace bc::net
