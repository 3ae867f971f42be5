#include "net/tls_socket.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <climits>
#include <cstdint>

namespace bc::net {
namespace {

namespace asio = boost::asio;
using boost::beast::error_code;

// The socket BIO: OpenSSL's own (BIO_s_socket) writes with write(2), which raises SIGPIPE on a
// connection the peer closed; this one uses send(MSG_NOSIGNAL), so a library user need not
// ignore SIGPIPE. The descriptor is borrowed: Asio's socket owns and closes it.
int fd_of(BIO* bio) { return static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(bio))); }

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

int bio_write(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  const ssize_t n = ::send(fd_of(bio), data, static_cast<std::size_t>(size), MSG_NOSIGNAL);
  if (n < 0 && would_block(errno)) BIO_set_retry_write(bio);
  return static_cast<int>(n);
}

int bio_read(BIO* bio, char* data, int size) {
  BIO_clear_retry_flags(bio);
  const ssize_t n = ::recv(fd_of(bio), data, static_cast<std::size_t>(size), 0);
  if (n < 0 && would_block(errno)) BIO_set_retry_read(bio);
  return static_cast<int>(n);
}

long bio_ctrl(BIO*, int command, long, void*) { return command == BIO_CTRL_FLUSH ? 1 : 0; }

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

// socket_method is made once and lives as long as the process (OpenSSL may use it until exit).
const BIO_METHOD* socket_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "bc-socket");
    if (m != nullptr) {
      BIO_meth_set_write(m, bio_write);
      BIO_meth_set_read(m, bio_read);
      BIO_meth_set_ctrl(m, bio_ctrl);
      BIO_meth_set_create(m, bio_create);
    }
    return m;
  }();
  return method;
}

}  // namespace

TlsSocket::TlsSocket(next_layer_type socket, SSL_CTX* ctx) : socket_(std::move(socket)) {
  error_code ignored;
  // OpenSSL calls recv/send itself and must see EAGAIN, never block a network thread.
  socket_.native_non_blocking(true, ignored);
  const BIO_METHOD* method = socket_method();
  SSL* ssl = method == nullptr ? nullptr : SSL_new(ctx);
  BIO* bio = ssl == nullptr ? nullptr : BIO_new(method);
  if (bio == nullptr) {
    SSL_free(ssl);
    return;
  }
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<std::intptr_t>(socket_.native_handle())));
  SSL_set_bio(ssl, bio, bio);  // ssl owns the BIO
  SSL_set_accept_state(ssl);
  // Read whole records at once (fewer recv calls); released again when empty.
  SSL_set_read_ahead(ssl, 1);
  SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  ssl_ = ssl;
}

TlsSocket::~TlsSocket() { SSL_free(ssl_); }

TlsSocket::Outcome TlsSocket::outcome_of(int ret, std::size_t n) {
  Outcome out;
  if (ret == 1) {
    out.n = n;
    return out;
  }
  const int saved_errno = errno;
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ:
      out.want = Want::kRead;
      break;
    case SSL_ERROR_WANT_WRITE:
      out.want = Want::kWrite;
      break;
    case SSL_ERROR_ZERO_RETURN:
      out.ec = asio::error::eof;
      break;
    case SSL_ERROR_SYSCALL:
      // A system error from recv/send, or (no errno) the peer closed without close_notify.
      if (ERR_peek_error() == 0 && saved_errno != 0) {
        out.ec = error_code(saved_errno, boost::system::system_category());
      } else {
        out.ec = asio::ssl::error::stream_truncated;
      }
      break;
    case SSL_ERROR_SSL: {
      const unsigned long e = ERR_peek_last_error();
      if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        out.ec = asio::ssl::error::stream_truncated;
      } else {
        out.ec = error_code(static_cast<int>(e), asio::error::get_ssl_category());
      }
      break;
    }
    default:
      out.ec = asio::error::fault;
      break;
  }
  // The error queue is per thread and shared by every connection on it: leave nothing behind.
  ERR_clear_error();
  return out;
}

TlsSocket::Outcome TlsSocket::handshake_step() {
  ERR_clear_error();
  errno = 0;
  return outcome_of(SSL_do_handshake(ssl_), 0);
}

TlsSocket::Outcome TlsSocket::shutdown_step() {
  ERR_clear_error();
  errno = 0;
  // 0: close_notify sent, the peer's not yet read; we do not wait for it.
  const int ret = SSL_shutdown(ssl_);
  return outcome_of(ret >= 0 ? 1 : ret, 0);
}

TlsSocket::Outcome TlsSocket::read_step(void* data, std::size_t size) {
  ERR_clear_error();
  errno = 0;
  std::size_t n = 0;
  const int ret = SSL_read_ex(ssl_, data, size, &n);
  return outcome_of(ret, n);
}

TlsSocket::Outcome TlsSocket::write_step(const void* data, std::size_t size) {
  ERR_clear_error();
  errno = 0;
  std::size_t n = 0;
  const int ret = SSL_write_ex(ssl_, data, size, &n);
  return outcome_of(ret, n);
}

void TlsSocket::shutdown_now(error_code& ec) {
  ec = {};
  if (!socket_.is_open() || ssl_ == nullptr) {
    ec = asio::error::bad_descriptor;
    return;
  }
  const Outcome out = shutdown_step();
  if (out.want != Want::kNothing) {
    ec = asio::error::would_block;
  } else {
    ec = out.ec;
  }
}

void teardown(boost::beast::role_type, TlsSocket& socket, error_code& ec) {
  socket.shutdown_now(ec);
}

}  // namespace bc::net
