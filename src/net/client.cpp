#include "net/client.hpp"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <utility>

namespace bc::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;

namespace {

// run_op starts one asynchronous operation on a private io_context and runs it to completion, for
// at most `timeout_ms`: past that, the socket is closed (the operation ends aborted) and the result
// is beast::error::timeout. The deadline is the loop's rather than the tcp_stream's own expiry
// timer, which costs two timerfd updates and an extra reactor pass per operation.
template <typename Start>
beast::error_code run_op(asio::io_context& ioc, beast::tcp_stream& lowest, std::uint32_t timeout_ms,
                         Start&& start) {
  beast::error_code result = asio::error::would_block;
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run_for(milliseconds(timeout_ms));
  if (!ioc.stopped()) {  // work is left: the deadline passed first
    beast::error_code ignored;
    lowest.socket().close(ignored);
    ioc.restart();
    ioc.run();  // the aborted operation's handlers
    return beast::error::timeout;
  }
  return result;
}

// PinState is what the verify callback learns about the peer's leaf certificate.
struct PinState {
  Bytes expected;
  bool leaf_seen = false;
  bool mismatch = false;
};

Result<void> configure_tls(ssl::context& ctx) {
  SSL_CTX* native = ctx.native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION) != 1) {
    return fail(Errc::kInternal, "TLS 1.3 is not available");
  }
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  ctx.set_verify_mode(ssl::verify_peer);
  return ok();
}

// pin_callback accepts a chain only through its leaf: the SHA-256 of the leaf's DER encoding must
// equal the pin. CA validation is deliberately not consulted (self-signed relays are the norm).
auto pin_callback(std::shared_ptr<PinState> pin) {
  return [pin](bool /*preverified*/, ssl::verify_context& vctx) {
    X509_STORE_CTX* store = vctx.native_handle();
    if (X509_STORE_CTX_get_error_depth(store) > 0) return true;
    X509* cert = X509_STORE_CTX_get_current_cert(store);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (cert == nullptr || X509_digest(cert, EVP_sha256(), digest, &size) != 1 || size != 32) {
      pin->mismatch = true;
      return false;
    }
    pin->leaf_seen = true;
    if (!ct_equal(ByteView(digest, size), pin->expected)) {
      pin->mismatch = true;
      return false;
    }
    return true;
  };
}

Result<tcp::endpoint> endpoint_of(const ClientOptions& options) {
  beast::error_code ec;
  const auto address = asio::ip::make_address(options.host, ec);
  if (ec) return fail(Errc::kMalformed, "relay host must be a numeric IP address");
  return tcp::endpoint(address, options.port);
}

Unexpected unavailable(const char* what, const beast::error_code& ec) {
  return fail(Errc::kUnavailable, std::string(what) + ": " + ec.message());
}

// connect_tls opens TCP and completes the pinned TLS handshake on `stream`.
Result<void> connect_tls(asio::io_context& ioc, beast::ssl_stream<beast::tcp_stream>& stream,
                         const ClientOptions& options, const std::shared_ptr<PinState>& pin) {
  BC_ASSIGN_OR_RETURN(const tcp::endpoint endpoint, endpoint_of(options));
  auto& lowest = beast::get_lowest_layer(stream);
  beast::error_code ec = run_op(ioc, lowest, options.timeout_ms, [&](auto handler) {
    lowest.async_connect(endpoint, std::move(handler));
  });
  if (ec) return unavailable("cannot connect to the relay", ec);
  lowest.socket().set_option(tcp::no_delay(true), ec);
  stream.set_verify_callback(pin_callback(pin), ec);
  if (ec) return fail(Errc::kInternal, "cannot set the certificate pin");
  ec = run_op(ioc, lowest, options.timeout_ms, [&](auto handler) {
    stream.async_handshake(ssl::stream_base::client, std::move(handler));
  });
  if (pin->mismatch) {
    return fail(Errc::kAuthFailed, "relay certificate does not match the pinned fingerprint");
  }
  if (ec) return unavailable("TLS handshake failed", ec);
  if (!pin->leaf_seen) return fail(Errc::kAuthFailed, "relay presented no certificate");
  return ok();
}

Result<std::shared_ptr<PinState>> make_pin(const ClientOptions& options) {
  if (options.fingerprint.size() != 32) {
    return fail(Errc::kAuthFailed, "a 32-byte SHA-256 certificate pin is required");
  }
  auto pin = std::make_shared<PinState>();
  pin->expected = options.fingerprint;
  return pin;
}

}  // namespace

struct Client::Impl {
  explicit Impl(const ClientOptions& opts) : options(opts) {}
  Result<void> check() const {
    if (broken) return fail(Errc::kUnavailable, "connection is closed");
    return ok();
  }
  // run runs one operation on the connection for at most `timeout_ms` (see run_op).
  template <typename Start>
  beast::error_code run(std::uint32_t timeout_ms, Start&& start) {
    return run_op(ioc, beast::get_lowest_layer(*ws), timeout_ms, std::forward<Start>(start));
  }

  ClientOptions options;
  asio::io_context ioc;
  ssl::context tls{ssl::context::tls_client};
  // Built once `tls` is configured: an SSL object copies its context's settings when created.
  std::optional<websocket::stream<beast::ssl_stream<beast::tcp_stream>>> ws;
  beast::flat_buffer buffer;
  bool broken = false;
};

Result<std::unique_ptr<Client>> Client::connect(const ClientOptions& options) {
  BC_ASSIGN_OR_RETURN(auto pin, make_pin(options));
  auto impl = std::make_unique<Impl>(options);
  BC_TRY(configure_tls(impl->tls));
  impl->ws.emplace(impl->ioc, impl->tls);
  BC_TRY(connect_tls(impl->ioc, impl->ws->next_layer(), options, pin));
  impl->ws->read_message_max(options.max_frame_bytes);
  impl->ws->binary(true);
  const std::string host = options.host + ":" + std::to_string(options.port);
  const beast::error_code ec = impl->run(options.timeout_ms, [&](auto handler) {
    impl->ws->async_handshake(host, "/", std::move(handler));
  });
  if (ec) return unavailable("WebSocket upgrade failed", ec);
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<void> Client::send(ByteView frame) {
  BC_TRY(impl_->check());
  const beast::error_code ec = impl_->run(impl_->options.timeout_ms, [&](auto handler) {
    impl_->ws->async_write(asio::buffer(frame.data(), frame.size()), std::move(handler));
  });
  if (ec) {
    impl_->broken = true;
    return unavailable("send failed", ec);
  }
  return ok();
}

Result<Bytes> Client::receive() { return receive_for(impl_->options.timeout_ms); }

Result<Bytes> Client::receive_for(std::uint32_t timeout_ms) {
  BC_TRY(impl_->check());
  impl_->buffer.clear();
  const beast::error_code ec = impl_->run(
      timeout_ms, [&](auto handler) { impl_->ws->async_read(impl_->buffer, std::move(handler)); });
  if (ec) {
    impl_->broken = true;
    return unavailable("receive failed", ec);
  }
  if (!impl_->ws->got_binary()) {
    impl_->broken = true;
    return fail(Errc::kMalformed, "relay sent a text message");
  }
  const auto data = impl_->buffer.cdata();
  const auto* begin = static_cast<const std::uint8_t*>(data.data());
  return Bytes(begin, begin + data.size());
}

Result<void> Client::ping() {
  BC_TRY(impl_->check());
  const beast::error_code ec = impl_->run(impl_->options.timeout_ms, [&](auto handler) {
    impl_->ws->async_ping({}, std::move(handler));
  });
  if (ec) {
    impl_->broken = true;
    return unavailable("ping failed", ec);
  }
  return ok();
}

Result<void> Client::send_raw(ByteView bytes) {
  BC_TRY(impl_->check());
  const beast::error_code ec = impl_->run(impl_->options.timeout_ms, [&](auto handler) {
    asio::async_write(impl_->ws->next_layer(), asio::buffer(bytes.data(), bytes.size()),
                      std::move(handler));
  });
  if (ec) {
    impl_->broken = true;
    return unavailable("send failed", ec);
  }
  return ok();
}

void Client::close() {
  if (impl_->broken) return;
  impl_->broken = true;
  (void)impl_->run(1000, [&](auto handler) {
    impl_->ws->async_close(websocket::close_code::normal, std::move(handler));
  });
}

Result<HttpReply> https_get(const ClientOptions& options, const std::string& target) {
  BC_ASSIGN_OR_RETURN(auto pin, make_pin(options));
  asio::io_context ioc;
  ssl::context tls{ssl::context::tls_client};
  BC_TRY(configure_tls(tls));
  beast::ssl_stream<beast::tcp_stream> stream(ioc, tls);
  BC_TRY(connect_tls(ioc, stream, options, pin));
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, options.host);
  request.set(http::field::connection, "close");
  auto& lowest = beast::get_lowest_layer(stream);
  beast::error_code ec = run_op(ioc, lowest, options.timeout_ms, [&](auto handler) {
    http::async_write(stream, request, std::move(handler));
  });
  if (ec) return unavailable("HTTP request failed", ec);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(4 * 1024 * 1024);
  ec = run_op(ioc, lowest, options.timeout_ms,
              [&](auto handler) { http::async_read(stream, buffer, parser, std::move(handler)); });
  if (ec) return fail(Errc::kMalformed, "unreadable HTTP response: " + ec.message());
  HttpReply reply;
  reply.status = static_cast<int>(parser.get().result_int());
  reply.body = std::move(parser.get().body());
  return reply;
}

}  // namespace bc::net
