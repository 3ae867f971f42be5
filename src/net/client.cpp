#include "net/client.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/system/system_error.hpp>
#include <cerrno>
#include <chrono>
#include <climits>
#include <memory>
#include <optional>
#include <utility>

#include "net/bio_method.hpp"

namespace bc::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using beast::error_code;
using Clock = std::chrono::steady_clock;

namespace {

// PinState is what the verify callback learns about the peer's leaf certificate.
struct PinState {
  Bytes expected;
  bool leaf_seen = false;
  bool mismatch = false;
};

// verify_pin replaces OpenSSL's chain verification: the SHA-256 of the leaf's DER encoding must
// equal the pin. CA validation is deliberately not consulted (self-signed relays are the norm).
// Returning 0 aborts the handshake before the client sends anything of its own.
int verify_pin(X509_STORE_CTX* store, void* arg) {
  auto* pin = static_cast<PinState*>(arg);
  X509* cert = X509_STORE_CTX_get0_cert(store);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (cert == nullptr || X509_digest(cert, EVP_sha256(), digest, &size) != 1 || size != 32) {
    pin->mismatch = true;
    return 0;
  }
  pin->leaf_seen = true;
  if (!ct_equal(ByteView(digest, size), pin->expected)) {
    pin->mismatch = true;
    return 0;
  }
  return 1;
}

// The write side of a connection's SSL object: a BIO that appends every record OpenSSL writes to
// the connection's outgoing buffer (TlsStream::out_), which TlsStream sends itself. That lets
// several messages leave in one send (TlsStream::hold) and keeps OpenSSL from ever blocking or
// raising SIGPIPE on a write.
int out_write(BIO* bio, const char* data, int size) {
  auto* out = static_cast<Bytes*>(BIO_get_data(bio));
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(data);
  out->insert(out->end(), bytes, bytes + size);
  return size;
}

// out_method is made once and lives as long as the process (OpenSSL may use it until exit).
const BIO_METHOD* out_method() {
  static BIO_METHOD* const method = new_bio_method("bc-client-out", out_write, nullptr);
  return method;
}

// shared_executor is what Beast's WebSocket stream asks of its transport (it builds a timer from
// it, which a synchronous stream never arms): one I/O context for the whole process, never run.
asio::io_context::executor_type shared_executor() {
  static auto* const context = new asio::io_context(1);  // lives until exit
  return context->get_executor();
}

Unexpected unavailable(const char* what, const error_code& ec) {
  return fail(Errc::kUnavailable, std::string(what) + ": " + ec.message());
}

// TlsStream is the client's TLS 1.3 connection, synchronous, with one deadline per operation.
//
// OpenSSL reads the non-blocking socket itself (read ahead: as many records as one recv brings)
// and writes its records into `out_`; TlsStream sends `out_` with send(2), waiting with poll(2)
// whenever the socket is not ready, never past the deadline. Before it waits for input it sends
// what is still held, so a reply can never wait on a request that has not left.
//
// It models Asio's SyncReadStream and SyncWriteStream, which is what Beast's WebSocket stream and
// HTTP functions need; teardown below ends it for Beast.
class TlsStream {
 public:
  using executor_type = asio::io_context::executor_type;

  TlsStream() = default;
  ~TlsStream() {
    SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
  }
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  executor_type get_executor() { return shared_executor(); }

  void set_deadline(std::uint32_t timeout_ms) {
    deadline_ = Clock::now() + std::chrono::milliseconds(timeout_ms);
  }

  // connect opens the TCP connection to `endpoint`.
  error_code connect(const asio::ip::tcp::endpoint& endpoint) {
    error_code ec;
    fd_ = ::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return errno_code();
    if (::connect(fd_, endpoint.data(), static_cast<socklen_t>(endpoint.size())) != 0) {
      if (errno != EINPROGRESS) return errno_code();
      if (!wait(POLLOUT, ec)) return ec;
      int error = 0;
      socklen_t size = sizeof error;
      if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &size) != 0) return errno_code();
      if (error != 0) return {error, boost::system::system_category()};
    }
    const int one = 1;
    (void)::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return ec;
  }

  // handshake completes the client side of a TLS 1.3 handshake under `ctx` on the connection.
  error_code handshake(SSL_CTX* ctx) {
    error_code ec;
    const BIO_METHOD* method = out_method();
    ssl_ = method == nullptr ? nullptr : SSL_new(ctx);
    BIO* in = ssl_ == nullptr ? nullptr : BIO_new_socket(fd_, BIO_NOCLOSE);
    BIO* out = in == nullptr ? nullptr : BIO_new(method);
    if (out == nullptr) {
      BIO_free(in);
      return asio::error::no_memory;
    }
    BIO_set_data(out, &out_);
    SSL_set_bio(ssl_, in, out);  // ssl_ owns both
    SSL_set_connect_state(ssl_);
    SSL_set_read_ahead(ssl_, 1);
    SSL_set_mode(ssl_, SSL_MODE_RELEASE_BUFFERS);
    drive([this] { return SSL_do_handshake(ssl_); }, ec);
    if (!ec) flush(ec);
    return ec;
  }

  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, error_code& ec) {
    ec = {};
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers);
         ++it) {
      const asio::mutable_buffer b(*it);
      if (b.size() == 0) continue;
      std::size_t n = 0;
      drive([&] { return SSL_read_ex(ssl_, b.data(), b.size(), &n); }, ec);
      return ec ? 0 : n;
    }
    return 0;
  }

  // write_some writes up to one record's worth of `buffers` as one TLS record (several pieces, a
  // WebSocket header and its payload, are copied together first), then sends everything unsent
  // unless writes are held.
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers, error_code& ec) {
    ec = {};
    const void* data = nullptr;
    std::size_t size = 0;
    std::size_t pieces = 0;
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers);
         ++it) {
      const asio::const_buffer b(*it);
      if (b.size() == 0) continue;
      if (++pieces == 1) {
        data = b.data();
        size = std::min(b.size(), kMaxRecord);
      }
    }
    if (pieces == 0) return 0;
    if (pieces > 1) {
      gather_.resize(std::min(asio::buffer_size(buffers), kMaxRecord));
      asio::buffer_copy(asio::buffer(gather_), buffers);
      data = gather_.data();
      size = gather_.size();
    }
    std::size_t n = 0;
    drive([&] { return SSL_write_ex(ssl_, data, size, &n); }, ec);
    if (ec) return 0;
    if (!hold_ || out_.size() >= kMaxHeld) flush(ec);
    return ec ? 0 : n;
  }

  // The throwing forms, which Asio's stream concepts also require.
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers) {
    error_code ec;
    const std::size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers) {
    error_code ec;
    const std::size_t n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  // hold(true) keeps the records of later writes in memory (up to kMaxHeld bytes) until flush,
  // or until a read has to wait for the peer.
  void hold(bool on) noexcept { hold_ = on; }

  // flush sends every record not yet sent.
  void flush(error_code& ec) {
    while (out_sent_ < out_.size()) {
      const ssize_t n = ::send(fd_, out_.data() + out_sent_, out_.size() - out_sent_, MSG_NOSIGNAL);
      if (n > 0) {
        out_sent_ += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!wait(POLLOUT, ec)) return;
      } else {
        ec = n < 0 ? errno_code() : error_code(asio::error::broken_pipe);
        return;
      }
    }
    out_.clear();
    out_sent_ = 0;
  }

  // shutdown sends close_notify and does not wait for the peer's (the socket closes next).
  void shutdown(error_code& ec) {
    if (ssl_ == nullptr) return;
    ERR_clear_error();
    (void)SSL_shutdown(ssl_);
    ERR_clear_error();
    flush(ec);
  }

  // close closes the socket at once; every later operation fails.
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  // One TLS record's worth of plaintext per write.
  static constexpr std::size_t kMaxRecord = std::size_t{16} * 1024;
  // Held records beyond this are sent at once.
  static constexpr std::size_t kMaxHeld = std::size_t{256} * 1024;

  static error_code errno_code() { return {errno, boost::system::system_category()}; }

  // wait polls the socket for `events` until the deadline; false with ec set when it passes.
  bool wait(short events, error_code& ec) {
    while (true) {
      if (fd_ < 0) {
        ec = asio::error::bad_descriptor;
        return false;
      }
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline_ - Clock::now());
      if (left.count() <= 0) {
        ec = beast::error::timeout;
        return false;
      }
      pollfd p{fd_, events, 0};
      const int n = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), INT_MAX)));
      if (n > 0) return true;  // ready, or an error the next call reports
      if (n < 0 && errno != EINTR) {
        ec = errno_code();
        return false;
      }
    }
  }

  // drive repeats one SSL call until OpenSSL is done with it, sending held output and waiting
  // for input whenever it wants to read; on failure, ec says why.
  template <class Call>
  void drive(Call call, error_code& ec) {
    while (true) {
      if (fd_ < 0 || ssl_ == nullptr) {
        ec = asio::error::bad_descriptor;
        return;
      }
      ERR_clear_error();
      const int ret = call();
      if (ret == 1) return;
      const int saved_errno = errno;
      const int error = SSL_get_error(ssl_, ret);
      if (error == SSL_ERROR_WANT_READ) {
        flush(ec);
        if (ec || !wait(POLLIN, ec)) return;
        continue;
      }
      switch (error) {
        case SSL_ERROR_ZERO_RETURN:
          ec = asio::error::eof;
          break;
        case SSL_ERROR_SYSCALL:
          // A system error from recv, or (no errno) the peer closed without close_notify.
          if (ERR_peek_error() == 0 && saved_errno != 0) {
            ec = error_code(saved_errno, boost::system::system_category());
          } else {
            ec = asio::ssl::error::stream_truncated;
          }
          break;
        case SSL_ERROR_SSL: {
          const unsigned long e = ERR_peek_last_error();
          if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ec = asio::ssl::error::stream_truncated;
          } else {
            ec = error_code(static_cast<int>(e), asio::error::get_ssl_category());
          }
          break;
        }
        default:
          ec = asio::error::fault;
          break;
      }
      // The error queue is per thread: leave nothing behind.
      ERR_clear_error();
      return;
    }
  }

  int fd_ = -1;
  SSL* ssl_ = nullptr;
  Bytes out_;  // records written by OpenSSL, [out_sent_, size) not yet sent
  std::size_t out_sent_ = 0;
  Bytes gather_;
  bool hold_ = false;
  Clock::time_point deadline_ = Clock::now();
};

// teardown lets Beast's WebSocket stream end a TlsStream (close_notify; the socket closes with
// the stream).
void teardown(beast::role_type, TlsStream& stream, error_code& ec) { stream.shutdown(ec); }

// TlsContext is a client SSL_CTX: TLS 1.3 only, no tickets or compression, and the pin check.
struct TlsContext {
  SSL_CTX* ctx = nullptr;
  PinState pin;
  TlsContext() = default;
  ~TlsContext() { SSL_CTX_free(ctx); }
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
};

Result<void> configure(TlsContext& tls, const ClientOptions& options) {
  if (options.fingerprint.size() != 32) {
    return fail(Errc::kAuthFailed, "a 32-byte SHA-256 certificate pin is required");
  }
  tls.pin.expected = options.fingerprint;
  tls.ctx = SSL_CTX_new(TLS_client_method());
  if (tls.ctx == nullptr) return fail(Errc::kInternal, "cannot create a TLS context");
  if (SSL_CTX_set_min_proto_version(tls.ctx, TLS1_3_VERSION) != 1) {
    return fail(Errc::kInternal, "TLS 1.3 is not available");
  }
  SSL_CTX_set_options(tls.ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
  SSL_CTX_set_verify(tls.ctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_cert_verify_callback(tls.ctx, verify_pin, &tls.pin);
  return ok();
}

Result<asio::ip::tcp::endpoint> endpoint_of(const ClientOptions& options) {
  error_code ec;
  const auto address = asio::ip::make_address(options.host, ec);
  if (ec) return fail(Errc::kMalformed, "relay host must be a numeric IP address");
  return asio::ip::tcp::endpoint(address, options.port);
}

// connect_tls opens TCP and completes the pinned TLS handshake on `stream`.
Result<void> connect_tls(TlsStream& stream, TlsContext& tls, const ClientOptions& options) {
  BC_ASSIGN_OR_RETURN(const auto endpoint, endpoint_of(options));
  stream.set_deadline(options.timeout_ms);
  error_code ec = stream.connect(endpoint);
  if (ec) return unavailable("cannot connect to the relay", ec);
  ec = stream.handshake(tls.ctx);
  if (tls.pin.mismatch) {
    return fail(Errc::kAuthFailed, "relay certificate does not match the pinned fingerprint");
  }
  if (ec) return unavailable("TLS handshake failed", ec);
  if (!tls.pin.leaf_seen) return fail(Errc::kAuthFailed, "relay presented no certificate");
  return ok();
}

}  // namespace

struct Client::Impl {
  explicit Impl(const ClientOptions& opts) : options(opts) {}
  Result<void> check() const {
    if (broken) return fail(Errc::kUnavailable, "connection is closed");
    return ok();
  }
  TlsStream& stream() { return ws.next_layer(); }
  // failed marks the connection unusable (its socket closed) and returns the error.
  Unexpected failed(const char* what, const error_code& ec) {
    broken = true;
    stream().close();
    return unavailable(what, ec);
  }

  ClientOptions options;
  TlsContext tls;
  websocket::stream<TlsStream> ws;
  beast::flat_buffer buffer;
  bool broken = false;
};

Result<std::unique_ptr<Client>> Client::connect(const ClientOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  BC_TRY(configure(impl->tls, options));
  BC_TRY(connect_tls(impl->stream(), impl->tls, options));
  impl->ws.read_message_max(options.max_frame_bytes);
  impl->ws.binary(true);
  const std::string host = options.host + ":" + std::to_string(options.port);
  error_code ec;
  impl->ws.handshake(host, "/", ec);
  if (ec) return unavailable("WebSocket upgrade failed", ec);
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<void> Client::send(ByteView frame) {
  BC_TRY(queue(frame));
  return flush();
}

Result<void> Client::queue(ByteView frame) {
  BC_TRY(impl_->check());
  impl_->stream().set_deadline(impl_->options.timeout_ms);
  impl_->stream().hold(true);
  error_code ec;
  impl_->ws.write(asio::buffer(frame.data(), frame.size()), ec);
  impl_->stream().hold(false);
  if (ec) return impl_->failed("send failed", ec);
  return ok();
}

Result<void> Client::flush() {
  BC_TRY(impl_->check());
  impl_->stream().set_deadline(impl_->options.timeout_ms);
  error_code ec;
  impl_->stream().flush(ec);
  if (ec) return impl_->failed("send failed", ec);
  return ok();
}

Result<Bytes> Client::receive() { return receive_for(impl_->options.timeout_ms); }

Result<Bytes> Client::receive_for(std::uint32_t timeout_ms) {
  BC_TRY(impl_->check());
  impl_->stream().set_deadline(timeout_ms);
  impl_->buffer.clear();
  error_code ec;
  impl_->ws.read(impl_->buffer, ec);
  if (ec) return impl_->failed("receive failed", ec);
  if (!impl_->ws.got_binary()) {
    impl_->broken = true;
    impl_->stream().close();
    return fail(Errc::kMalformed, "relay sent a text message");
  }
  const auto data = impl_->buffer.cdata();
  const auto* begin = static_cast<const std::uint8_t*>(data.data());
  return Bytes(begin, begin + data.size());
}

Result<void> Client::ping() {
  BC_TRY(impl_->check());
  impl_->stream().set_deadline(impl_->options.timeout_ms);
  error_code ec;
  impl_->ws.ping({}, ec);
  if (ec) return impl_->failed("ping failed", ec);
  return ok();
}

Result<void> Client::send_raw(ByteView bytes) {
  BC_TRY(impl_->check());
  impl_->stream().set_deadline(impl_->options.timeout_ms);
  error_code ec;
  asio::write(impl_->stream(), asio::buffer(bytes.data(), bytes.size()), ec);
  if (ec) return impl_->failed("send failed", ec);
  return ok();
}

void Client::close() {
  if (impl_->broken) return;
  impl_->broken = true;
  impl_->stream().set_deadline(1000);
  error_code ignored;
  impl_->ws.close(websocket::close_code::normal, ignored);
  impl_->stream().close();
}

Result<HttpReply> https_get(const ClientOptions& options, const std::string& target) {
  TlsContext tls;
  BC_TRY(configure(tls, options));
  TlsStream stream;
  BC_TRY(connect_tls(stream, tls, options));
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, options.host);
  request.set(http::field::connection, "close");
  stream.set_deadline(options.timeout_ms);
  error_code ec;
  http::write(stream, request, ec);
  if (ec) return unavailable("HTTP request failed", ec);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(4 * 1024 * 1024);
  http::read(stream, buffer, parser, ec);
  if (ec) return fail(Errc::kMalformed, "unreadable HTTP response: " + ec.message());
  HttpReply reply;
  reply.status = static_cast<int>(parser.get().result_int());
  reply.body = std::move(parser.get().body());
  return reply;
}

}  // namespace bc::net
