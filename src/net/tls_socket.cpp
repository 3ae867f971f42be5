#include "net/tls_socket.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/system/error_code.hpp>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "net/bio_method.hpp"

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

// socket_method is made once and lives as long as the process (OpenSSL may use it until exit).
const BIO_METHOD* socket_method() {
  static BIO_METHOD* const method = new_bio_method("bc-socket", bio_write, bio_read);
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
  SSL_set_app_data(ssl, this);  // for on_keylog
  // During the handshake OpenSSL reads exactly one record at a time, so that when it is done
  // nothing past the client's Finished sits in its buffer and the connection can move to
  // TlsRecords (take_over).
  SSL_set_read_ahead(ssl, 0);
  SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  ssl_ = ssl;
}

TlsSocket::~TlsSocket() {
  SSL_free(ssl_);
  secure_zero(client_secret_.data(), client_secret_.size());
  secure_zero(server_secret_.data(), server_secret_.size());
}

void TlsSocket::prepare_context(SSL_CTX* ctx) {
  SSL_CTX_set_keylog_callback(ctx, &TlsSocket::on_keylog);
  SSL_CTX_set_num_tickets(ctx, 0);
}

// on_keylog receives every secret of the handshake as an NSS key log line ("LABEL <client random
// hex> <secret hex>"); it keeps the two application traffic secrets in the connection's TlsSocket
// and nothing else. OpenSSL wipes the line after the call. The hex is decoded here rather than by
// from_hex, whose heap result would outlive the call unwiped (also on a bad digit).
void TlsSocket::on_keylog(const SSL* ssl, const char* line) {
  auto* self = static_cast<TlsSocket*>(SSL_get_app_data(ssl));
  if (self == nullptr) return;
  const std::string_view text(line);
  const std::size_t label_end = text.find(' ');
  if (label_end == std::string_view::npos) return;
  const std::string_view label = text.substr(0, label_end);
  std::array<std::uint8_t, 48>* secret = nullptr;
  std::uint8_t* size = nullptr;
  if (label == "CLIENT_TRAFFIC_SECRET_0") {
    secret = &self->client_secret_;
    size = &self->client_secret_size_;
  } else if (label == "SERVER_TRAFFIC_SECRET_0") {
    secret = &self->server_secret_;
    size = &self->server_secret_size_;
  } else {
    return;
  }
  const std::size_t random_end = text.find(' ', label_end + 1);
  if (random_end == std::string_view::npos) return;
  const std::string_view hex = text.substr(random_end + 1);
  *size = 0;
  if (hex.size() % 2 != 0 || hex.size() / 2 > secret->size()) return;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < hex.size() / 2; ++i) {
    const int hi = digit(hex[2 * i]);
    const int lo = digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      secure_zero(secret->data(), secret->size());
      return;
    }
    (*secret)[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  *size = static_cast<std::uint8_t>(hex.size() / 2);
}

void TlsSocket::take_over() {
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_);
  // Exact only if OpenSSL holds nothing the record layer would have to know about: no record read
  // past the handshake, no ticket sent under the server's traffic key.
  const bool exact = client_secret_size_ > 0 && server_secret_size_ > 0 && cipher != nullptr &&
                     SSL_version(ssl_) == TLS1_3_VERSION && SSL_get_num_tickets(ssl_) == 0 &&
                     SSL_has_pending(ssl_) == 0;
  if (exact) {
    Result<TlsRecords> records = TlsRecords::create(
        SSL_CIPHER_get_protocol_id(cipher), ByteView(client_secret_.data(), client_secret_size_),
        ByteView(server_secret_.data(), server_secret_size_));
    if (records) {
      records_.emplace(std::move(records).value());
      SSL_free(ssl_);
      ssl_ = nullptr;
    }
  }
  secure_zero(client_secret_.data(), client_secret_.size());
  secure_zero(server_secret_.data(), server_secret_.size());
  client_secret_size_ = 0;
  server_secret_size_ = 0;
  // OpenSSL keeps the connection: let it read whole records at once again.
  if (ssl_ != nullptr) SSL_set_read_ahead(ssl_, 1);
}

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
  if (ssl_ == nullptr) return {};  // already done
  ERR_clear_error();
  errno = 0;
  Outcome out = outcome_of(SSL_do_handshake(ssl_), 0);
  if (out.want == Want::kNothing && !out.ec) take_over();
  return out;
}

TlsSocket::Outcome TlsSocket::shutdown_step() {
  if (records_) return records_shutdown();
  ERR_clear_error();
  errno = 0;
  // 0: close_notify sent, the peer's not yet read; we do not wait for it.
  const int ret = SSL_shutdown(ssl_);
  return outcome_of(ret >= 0 ? 1 : ret, 0);
}

TlsSocket::Outcome TlsSocket::read_step(void* data, std::size_t size) {
  if (records_) return records_read(data, size);
  ERR_clear_error();
  errno = 0;
  std::size_t n = 0;
  const int ret = SSL_read_ex(ssl_, data, size, &n);
  return outcome_of(ret, n);
}

TlsSocket::Outcome TlsSocket::write_step(const void* data, std::size_t size) {
  if (records_) return records_write(data, size);
  ERR_clear_error();
  errno = 0;
  std::size_t n = 0;
  const int ret = SSL_write_ex(ssl_, data, size, &n);
  return outcome_of(ret, n);
}

void TlsSocket::consume_in(std::size_t n) {
  in_start_ += n;
  in_len_ -= n;
  if (in_len_ == 0) {
    in_.reset();
    in_start_ = 0;
  }
}

TlsSocket::Outcome TlsSocket::records_read(void* data, std::size_t size) {
  std::lock_guard lock(send_mu_);
  if (failed_) return {Want::kNothing, failed_, 0};
  while (true) {
    if (plain_len_ > 0) {
      const std::size_t n = std::min(size, plain_len_);
      std::memcpy(data, in_.get() + plain_off_, n);
      plain_off_ += n;
      plain_len_ -= n;
      if (plain_len_ == 0) consume_in(record_len_);
      return {Want::kNothing, {}, n};
    }
    if (peer_closed_) return {Want::kNothing, asio::error::eof, 0};
    if (in_len_ > 0) {
      Result<TlsRecords::Opened> opened = records_->open(std::span(in_.get() + in_start_, in_len_));
      if (!opened) return records_fail(opened.error());
      switch (opened->kind) {
        case TlsRecords::Kind::kIncomplete:
          break;
        case TlsRecords::Kind::kData:
          if (opened->length == 0) {
            consume_in(opened->record_size);
          } else {
            plain_off_ = in_start_ + opened->offset;
            plain_len_ = opened->length;
            record_len_ = opened->record_size;
          }
          continue;
        case TlsRecords::Kind::kCloseNotify:
          consume_in(opened->record_size);
          peer_closed_ = true;
          continue;
        case TlsRecords::Kind::kControl:
          consume_in(opened->record_size);
          continue;
      }
    }
    // The last receive emptied the socket: wait for it rather than hear EAGAIN first.
    if (drained_) {
      drained_ = false;
      if (in_len_ == 0) in_.reset();
      return {Want::kRead, {}, 0};
    }
    // The receive buffer exists only while bytes are expected or held; the unread part of a
    // record moves to its front before more is received.
    if (!in_) in_.reset(new std::uint8_t[TlsRecords::kMaxRecord]);
    if (in_start_ > 0) {
      std::memmove(in_.get(), in_.get() + in_start_, in_len_);
      in_start_ = 0;
    }
    const std::size_t room = TlsRecords::kMaxRecord - in_len_;
    const ssize_t got = ::recv(socket_.native_handle(), in_.get() + in_len_, room, 0);
    if (got > 0) {
      in_len_ += static_cast<std::size_t>(got);
      drained_ = static_cast<std::size_t>(got) < room;
      continue;
    }
    if (got == 0) {
      // The peer closed without close_notify.
      failed_ = asio::ssl::error::stream_truncated;
      return {Want::kNothing, failed_, 0};
    }
    if (would_block(errno)) {
      if (in_len_ == 0) in_.reset();
      return {Want::kRead, {}, 0};
    }
    failed_ = error_code(errno, boost::system::system_category());
    return {Want::kNothing, failed_, 0};
  }
}

TlsSocket::Outcome TlsSocket::records_fail(const Error& error) {
  failed_ = error.code == Errc::kUnavailable
                ? error_code(asio::error::connection_aborted)
                : boost::system::errc::make_error_code(boost::system::errc::bad_message);
  // Tell the peer why, if no record of ours is half sent (best effort: one non-blocking send).
  if (records_->alert() != 0 && out_.empty()) {
    records_->seal_alert(records_->alert(), out_);
    (void)::send(socket_.native_handle(), out_.data(), out_.size(), MSG_NOSIGNAL);
    out_ = Bytes{};
  }
  return {Want::kNothing, failed_, 0};
}

TlsSocket::Outcome TlsSocket::flush_out() {
  while (out_sent_ < out_.size()) {
    const ssize_t n = ::send(socket_.native_handle(), out_.data() + out_sent_,
                             out_.size() - out_sent_, MSG_NOSIGNAL);
    if (n > 0) {
      out_sent_ += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && would_block(errno)) return {Want::kWrite, {}, 0};
    failed_ = error_code(n < 0 ? errno : EPIPE, boost::system::system_category());
    out_ = Bytes{};
    out_sent_ = 0;
    return {Want::kNothing, failed_, 0};
  }
  out_ = Bytes{};  // frees the buffer: an idle connection holds none
  out_sent_ = 0;
  return {};
}

TlsSocket::Outcome TlsSocket::records_write(const void* data, std::size_t size) {
  std::lock_guard lock(send_mu_);
  if (!writing_) {
    if (failed_) return {Want::kNothing, failed_, 0};
    if (close_sent_) return {Want::kNothing, asio::error::shut_down, 0};
    // Records are appended after whatever is still being sent (a close_notify never precedes
    // data: after it nothing is written).
    records_->seal_data(ByteView(static_cast<const std::uint8_t*>(data), size), out_);
    // Held: sent by the next flush, or by the write that takes the held bytes past kMaxHeld.
    if (hold_ && out_.size() - out_sent_ <= kMaxHeld) return {Want::kNothing, {}, size};
    writing_ = true;
  }
  Outcome out = flush_out();
  if (out.want != Want::kNothing) return out;
  writing_ = false;
  if (out.ec) return out;
  return {Want::kNothing, {}, size};
}

TlsSocket::Outcome TlsSocket::flush_step() {
  std::lock_guard lock(send_mu_);
  if (failed_) return {Want::kNothing, failed_, 0};
  // A write waiting for the socket shares out_: whichever runs first sends for both.
  Outcome out = flush_out();
  out.n = 0;
  return out;
}

TlsSocket::Outcome TlsSocket::records_shutdown() {
  std::lock_guard lock(send_mu_);
  if (failed_) return {};  // nothing can be sent on a broken connection; the caller closes it
  if (!close_sent_) {
    // Appended after a write still in progress, so the peer reads all of it, then the end.
    records_->seal_alert(TlsRecords::kCloseNotify, out_);
    close_sent_ = true;
  }
  Outcome out = flush_out();
  out.n = 0;
  return out;
}

bool TlsSocket::seal_frame(ByteView head, ByteView payload) {
  std::lock_guard lock(send_mu_);
  if (!records_ || failed_ || close_sent_) return false;
  // The first record carries the header and what fits of the payload; the rest follows in
  // records of kMaxWrite, as the strand's writes would cut it.
  const std::size_t first = std::min(payload.size(), kMaxWrite - head.size());
  records_->seal_data(head, payload.first(first), out_);
  for (std::size_t at = first; at < payload.size(); at += kMaxWrite) {
    records_->seal_data(payload.subspan(at, std::min(kMaxWrite, payload.size() - at)), out_);
  }
  return true;
}

TlsSocket::Direct TlsSocket::send_direct() {
  std::lock_guard lock(send_mu_);
  if (failed_) return Direct::kFailed;
  // A strand write waiting for the socket sends these records too, once it can; it is the
  // strand's to finish.
  if (writing_) return Direct::kPending;
  const Outcome out = flush_out();
  if (out.ec) return Direct::kFailed;
  return out.want == Want::kNothing ? Direct::kSent : Direct::kPending;
}

std::size_t TlsSocket::unsent_bytes() const {
  std::lock_guard lock(send_mu_);
  return out_.size() - out_sent_;
}

void TlsSocket::shutdown_now(error_code& ec) {
  ec = {};
  if (!socket_.is_open() || (ssl_ == nullptr && !records_)) {
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
