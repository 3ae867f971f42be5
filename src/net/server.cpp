#include "net/server.hpp"

#include <openssl/ssl.h>

#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdio>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/check.hpp"
#include "net/tls_socket.hpp"

namespace bc::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

std::int64_t steady_ms() {
  return std::chrono::duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

struct Counters {
  std::atomic<std::uint64_t> connections_open{0};
  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::uint64_t> connections_refused{0};
  std::atomic<std::uint64_t> frames_in{0};
  std::atomic<std::uint64_t> frames_out{0};
  std::atomic<std::uint64_t> frames_rejected{0};
  std::atomic<std::uint64_t> write_queue_overflows{0};
  std::atomic<std::uint64_t> idle_timeouts{0};
  std::atomic<std::uint64_t> handshake_failures{0};
};

class Session;

// The sessions this thread sealed frames for and holds until its next Outbox::flush (see
// Session::deliver). Empty between two flushes of the relay's writer.
thread_local std::vector<std::shared_ptr<Session>> t_held;

}  // namespace

struct Server::Impl final : relay::Outbox {
  explicit Impl(const ServerOptions& opts) : options(opts) {}
  ~Impl() override { stop(); }

  void send(relay::ConnectionId connection, Bytes frame) override;
  void close(relay::ConnectionId connection) override;
  void flush() override;

  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  std::shared_ptr<Session> find(relay::ConnectionId id);
  void forget(relay::ConnectionId id);
  void stop();
  TransportStats snapshot() const;

  ServerOptions options;
  ssl::context tls{ssl::context::tls_server};
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  asio::steady_timer accept_retry{ioc};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  relay::RelayService* service = nullptr;
  Counters counters;
  std::atomic<relay::ConnectionId> next_id{1};
  std::atomic<bool> stopping{false};
  bool started = false;
  bool stopped = false;
  std::uint16_t bound_port = 0;

  mutable std::mutex mu;
  std::unordered_map<relay::ConnectionId, std::weak_ptr<Session>> sessions;
};

namespace {

// Session is one accepted TCP connection: TLS handshake, one HTTP request, then either an HTTP
// answer or a WebSocket session. Every member is touched only on the connection's strand, except
// those guarded by inbox_mu_.
//
// Frames from the service reach the socket one of two ways. Through the strand: deliver() puts
// them in inbox_, one post hands all that arrived to the strand, which queues and writes them
// with Beast. Or directly: while the strand has nothing to write (direct_), deliver() frames the
// WebSocket message itself and seals it into the socket's output (TlsSocket::seal_frame) on the
// calling thread, which sends it when it calls Outbox::flush (the relay's writer after a group
// commit, a network thread after an answer it gave at once), so that a batch's frames for one
// connection leave in one send. A receipt or a push then leaves without waking a network thread.
// The two ways never interleave: the strand clears direct_ before it writes and sets it again
// only when all it wrote has been sent, both under inbox_mu_, which every direct write holds;
// and the socket is closed only after direct_ is cleared.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server::Impl& server, tcp::socket socket, relay::ConnectionId id)
      : server_(server),
        limits_(server.options.limits),
        ws_(std::move(socket), server.tls.native_handle()),
        idle_timer_(ws_.get_executor()),
        rate_timer_(ws_.get_executor()),
        queue_(limits_.write_queue_max_frames, limits_.write_queue_max_bytes),
        bucket_(limits_.rate_frames_per_second, limits_.rate_burst, steady_ms()),
        id_(id) {}

  void start() {
    asio::dispatch(ws_.get_executor(), [self = shared_from_this()] { self->on_start(); });
  }
  // deliver hands a frame over from any thread: written directly when it can be (above), else
  // left in inbox_ for the strand, where one post takes all that arrived before it runs (a group
  // commit answers many requests at once).
  void deliver(Bytes frame) {
    bool first = false;
    {
      std::lock_guard lock(inbox_mu_);
      if (direct_ && inbox_.empty() && write_direct(frame)) return;
      first = inbox_.empty();
      inbox_.push_back(std::move(frame));
    }
    if (first) asio::post(ws_.get_executor(), [self = shared_from_this()] { self->take_inbox(); });
  }
  // flush_held sends what this thread sealed and held for the connection (Outbox::flush).
  void flush_held() {
    std::lock_guard lock(inbox_mu_);
    holder_ = {};
    // Without direct_, the strand is writing: its next write or flush sends these records first.
    if (direct_) send_direct();
  }
  void request_close(websocket::close_code code) {
    asio::post(ws_.get_executor(),
               [self = shared_from_this(), code] { self->graceful_close(code); });
  }
  // abandon finishes the session from outside the strand; only once the loop has stopped.
  void abandon() { finish(); }

 private:
  Counters& counters() { return server_.counters; }

  void on_start() {
    arm_deadline(milliseconds(limits_.handshake_timeout_ms));
    ws_.next_layer().async_handshake(
        [self = shared_from_this()](beast::error_code ec) { self->on_tls(ec); });
  }

  void on_tls(beast::error_code ec) {
    if (ec) return fail_handshake();
    parser_.emplace();
    parser_->header_limit(8 * 1024);
    http::async_read(
        ws_.next_layer(), buffer_, *parser_,
        [self = shared_from_this()](beast::error_code e, std::size_t) { self->on_request(e); });
  }

  void on_request(beast::error_code ec) {
    if (ec) return fail_handshake();
    request_.emplace(parser_->release());
    parser_.reset();
    buffer_.clear();
    buffer_.shrink_to_fit();
    if (websocket::is_upgrade(*request_)) {
      ws_.read_message_max(limits_.max_frame_bytes);
      ws_.auto_fragment(false);
      ws_.binary(true);
      ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
        res.set(http::field::server, "backchannel-relay");
      }));
      ws_.async_accept(*request_,
                       [self = shared_from_this()](beast::error_code e) { self->on_upgrade(e); });
      return;
    }
    serve_http();
  }

  void serve_http() {
    auto& res = response_.emplace();
    res.version(request_->version());
    res.keep_alive(false);
    res.set(http::field::server, "backchannel-relay");
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    const std::string_view target(request_->target().data(), request_->target().size());
    if (request_->method() != http::verb::get) {
      res.result(http::status::method_not_allowed);
      res.body() = "method not allowed\n";
    } else if (target == "/healthz") {
      res.result(http::status::ok);
      res.body() = server_.stopping.load() ? "draining\n" : "ok\n";
      if (server_.stopping.load()) res.result(http::status::service_unavailable);
    } else if (target == "/metrics") {
      res.result(http::status::ok);
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = render_transport_metrics(server_.snapshot());
      if (server_.service != nullptr) res.body() += server_.service->metrics_text();
    } else {
      res.result(http::status::not_found);
      res.body() = "not found\n";
    }
    res.prepare_payload();
    http::async_write(
        ws_.next_layer(), res, [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (ec) return self->finish();
          // Close TLS properly (close_notify) so the client sees a clean end.
          self->arm_deadline(std::chrono::seconds(2));
          self->ws_.next_layer().async_shutdown([self](beast::error_code) { self->finish(); });
        });
  }

  void on_upgrade(beast::error_code ec) {
    request_.reset();
    if (ec) return fail_handshake();
    if (finished_) return;
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      last_activity_ = steady_clock::now();
      // Beast answers a close frame itself: nothing may be written directly after that answer.
      if (kind == websocket::frame_type::close) stop_direct();
    });
    opened_ = true;
    allow_direct();
    last_activity_ = steady_clock::now();
    arm_idle();
    try {
      server_.service->on_open(id_);
    } catch (const std::exception&) {
      return finish();
    }
    do_read();
  }

  // arm_deadline ends the connection if it is still there after `timeout` (the TLS handshake,
  // HTTP request and upgrade, or a close). It shares the idle timer: the phases never overlap.
  void arm_deadline(steady_clock::duration timeout) {
    idle_timer_.expires_after(timeout);
    idle_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->finish();
    });
  }

  void fail_handshake() {
    counters().handshake_failures.fetch_add(1);
    finish();
  }

  void arm_idle() {
    idle_timer_.expires_at(last_activity_ + milliseconds(limits_.idle_timeout_ms));
    idle_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->finished_) return;
      if (steady_clock::now() >=
          self->last_activity_ + milliseconds(self->limits_.idle_timeout_ms)) {
        self->counters().idle_timeouts.fetch_add(1);
        self->finish();
      } else {
        self->arm_idle();
      }
    });
  }

  void do_read() {
    if (finished_ || closing_) return;
    const std::int64_t wait = bucket_.take(steady_ms());
    if (wait > 0) {
      rate_timer_.expires_after(milliseconds(wait));
      rate_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (!ec) self->do_read();
      });
      return;
    }
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_read(ec);
    });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      if (ec != websocket::error::closed && ec != asio::error::operation_aborted &&
          ec != asio::error::eof && ec != ssl::error::stream_truncated &&
          ec != beast::error::timeout && ec != asio::error::connection_reset) {
        counters().frames_rejected.fetch_add(1);
      }
      return finish();
    }
    if (!ws_.got_binary()) {
      counters().frames_rejected.fetch_add(1);
      buffer_.clear();
      return graceful_close(websocket::close_code::unknown_data);
    }
    counters().frames_in.fetch_add(1);
    last_activity_ = steady_clock::now();
    const auto data = buffer_.cdata();
    try {
      server_.service->on_frame(
          id_, ByteView(static_cast<const std::uint8_t*>(data.data()), data.size()));
    } catch (const std::exception&) {
      return finish();
    }
    // An idle connection holds no read buffer: the next frame allocates one of its own size.
    buffer_.clear();
    buffer_.shrink_to_fit();
    do_read();
  }

  // write_direct writes `frame` on the calling thread (inbox_mu_ held, direct_ set) and holds it
  // for this thread's flush_held; it is sent at once instead when another thread holds frames
  // for the connection, or past TlsSocket::kMaxHeld unsent bytes. False when the socket refused
  // it (broken, or closing): the frame then goes through the strand, and direct_ is cleared.
  bool write_direct(const Bytes& frame) {
    std::array<std::uint8_t, 10> head{};
    const std::size_t head_size = websocket_header(frame.size(), head);
    if (!ws_.next_layer().seal_frame(ByteView(head.data(), head_size), frame)) {
      direct_ = false;
      return false;
    }
    counters().frames_out.fetch_add(1);
    const std::thread::id me = std::this_thread::get_id();
    const bool held_elsewhere = holder_ != std::thread::id{} && holder_ != me;
    if (held_elsewhere || ws_.next_layer().unsent_bytes() > TlsSocket::kMaxHeld) {
      send_direct();
      return true;
    }
    if (holder_ == std::thread::id{}) {
      holder_ = me;
      t_held.push_back(shared_from_this());
    }
    return true;
  }

  // websocket_header writes the header of a server's binary WebSocket message in one frame (RFC
  // 6455 section 5.2: FIN, opcode 2, the payload length, no mask), as Beast would, and returns its
  // size.
  static std::size_t websocket_header(std::size_t size, std::array<std::uint8_t, 10>& head) {
    head[0] = 0x82;
    if (size < 126) {
      head[1] = static_cast<std::uint8_t>(size);
      return 2;
    }
    if (size <= 0xffff) {
      head[1] = 126;
      head[2] = static_cast<std::uint8_t>(size >> 8);
      head[3] = static_cast<std::uint8_t>(size);
      return 4;
    }
    head[1] = 127;
    for (std::size_t i = 0; i < 8; ++i) {
      head[2 + i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(size) >> (56 - 8 * i));
    }
    return 10;
  }

  // send_direct (inbox_mu_ held, direct_ set) sends what was sealed. What the socket does not
  // take at once is the strand's to finish: it waits for the socket, and frames go through it
  // until then.
  void send_direct() {
    switch (ws_.next_layer().send_direct()) {
      case TlsSocket::Direct::kSent:
        return;
      case TlsSocket::Direct::kPending:
        direct_ = false;
        asio::post(ws_.get_executor(), [self = shared_from_this()] { self->finish_direct(); });
        return;
      case TlsSocket::Direct::kFailed:
        direct_ = false;
        asio::post(ws_.get_executor(), [self = shared_from_this()] { self->finish(); });
        return;
    }
  }

  // finish_direct sends, once the socket takes them, the records a direct write left unsent.
  void finish_direct() {
    if (finished_ || writing_) return;  // a write in progress sends them first
    flush_unsent();
  }

  // allow_direct lets deliver() write directly again (on the strand, with nothing to write).
  void allow_direct() {
    std::lock_guard lock(inbox_mu_);
    if (opened_ && !closing_ && !close_pending_ && !finished_ && inbox_.empty()) direct_ = true;
  }
  void stop_direct() {
    std::lock_guard lock(inbox_mu_);
    direct_ = false;
  }

  void take_inbox() {
    std::vector<Bytes> frames;
    {
      std::lock_guard lock(inbox_mu_);
      frames.swap(inbox_);  // inbox_ is left without a buffer: an idle connection holds none
      direct_ = false;      // the strand writes these; direct writes wait until it is done
    }
    for (Bytes& frame : frames) enqueue(std::move(frame));
  }

  void enqueue(Bytes frame) {
    if (finished_ || closing_ || !opened_) return;
    if (!queue_.push(std::move(frame))) {
      // A reader too slow to take what it asked for: drop it rather than buffer without bound.
      counters().write_queue_overflows.fetch_add(1);
      return finish();
    }
    if (!writing_) do_write();
  }

  // do_write writes the queue's first frame. With more queued, the records are held and the
  // last write of the run is followed by one flush: many frames, one send.
  void do_write() {
    writing_ = true;
    if (queue_.size() > 1) ws_.next_layer().hold_writes(true);
    const Bytes& front = queue_.front();
    ws_.async_write(
        asio::buffer(front.data(), front.size()),
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    writing_ = false;
    if (ec || finished_) return finish();
    counters().frames_out.fetch_add(1);
    queue_.pop();
    if (!queue_.empty()) return do_write();
    ws_.next_layer().hold_writes(false);
    if (!ws_.next_layer().has_unsent()) return after_writes();
    flush_unsent();
  }

  // flush_unsent sends the records the socket still holds, waiting for it as needed, then goes
  // on with after_writes.
  void flush_unsent() {
    writing_ = true;
    ws_.next_layer().async_flush([self = shared_from_this()](beast::error_code e) {
      self->writing_ = false;
      if (e || self->finished_) return self->finish();
      self->after_writes();
    });
  }

  // after_writes goes on once everything queued has been sent: with what arrived meanwhile, or
  // with a close that was waiting for the queue to drain.
  void after_writes() {
    if (!queue_.empty()) return do_write();
    if (close_pending_) return start_close();
    allow_direct();
  }

  // graceful_close flushes the write queue, then sends a WebSocket close frame.
  void graceful_close(websocket::close_code code) {
    if (finished_ || closing_) return;
    if (!opened_) return finish();
    stop_direct();
    close_pending_ = true;
    close_code_ = code;
    if (!writing_) start_close();
  }

  void start_close() {
    if (closing_ || finished_) return;
    closing_ = true;
    rate_timer_.cancel();
    arm_deadline(std::chrono::seconds(2));
    ws_.async_close(close_code_,
                    [self = shared_from_this()](beast::error_code) { self->finish(); });
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    stop_direct();  // no direct write may use the descriptor once it is closed (it may be reused)
    idle_timer_.cancel();
    rate_timer_.cancel();
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).close(ignored);
    queue_.clear();
    server_.forget(id_);
    if (opened_ && server_.service != nullptr) {
      try {
        server_.service->on_close(id_);
      } catch (const std::exception&) {
        // Nothing more to do for a connection that is gone.
      }
    }
    counters().connections_open.fetch_sub(1);
  }

  Server::Impl& server_;
  const ServerLimits& limits_;
  websocket::stream<TlsSocket> ws_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  std::optional<http::request<http::empty_body>> request_;
  std::optional<http::response<http::string_body>> response_;
  asio::steady_timer idle_timer_;
  asio::steady_timer rate_timer_;
  steady_clock::time_point last_activity_{};
  WriteQueue queue_;
  std::mutex inbox_mu_;
  std::vector<Bytes> inbox_;  // frames from deliver() not yet taken by the strand
  bool direct_ = false;       // inbox_mu_: the strand has nothing to write (see above)
  std::thread::id holder_;    // inbox_mu_: the thread whose t_held has this session, if any
  TokenBucket bucket_;
  relay::ConnectionId id_;
  websocket::close_code close_code_ = websocket::close_code::normal;
  bool opened_ = false;
  bool writing_ = false;
  bool close_pending_ = false;
  bool closing_ = false;
  bool finished_ = false;
};

}  // namespace

void Server::Impl::send(relay::ConnectionId connection, Bytes frame) {
  if (auto session = find(connection)) session->deliver(std::move(frame));
}

void Server::Impl::flush() {
  std::vector<std::shared_ptr<Session>> held;
  held.swap(t_held);
  for (auto& session : held) session->flush_held();
}

void Server::Impl::close(relay::ConnectionId connection) {
  if (auto session = find(connection)) session->request_close(websocket::close_code::policy_error);
}

std::shared_ptr<Session> Server::Impl::find(relay::ConnectionId id) {
  std::lock_guard lock(mu);
  const auto it = sessions.find(id);
  return it == sessions.end() ? nullptr : it->second.lock();
}

void Server::Impl::forget(relay::ConnectionId id) {
  std::lock_guard lock(mu);
  sessions.erase(id);
}

void Server::Impl::do_accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    on_accept(ec, std::move(socket));
  });
}

void Server::Impl::on_accept(beast::error_code ec, tcp::socket socket) {
  if (stopping.load() || ec == asio::error::operation_aborted) return;
  if (ec) {
    // Out of descriptors or a transient failure: back off briefly instead of spinning.
    accept_retry.expires_after(milliseconds(50));
    accept_retry.async_wait([this](beast::error_code e) {
      if (!e && !stopping.load()) do_accept();
    });
    return;
  }
  if (counters.connections_open.load() >= options.limits.max_connections) {
    counters.connections_refused.fetch_add(1);
    beast::error_code ignored;
    socket.close(ignored);
  } else {
    // Frames are small and latency matters: no Nagle delay on replies and pushes.
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    const relay::ConnectionId id = next_id.fetch_add(1);
    auto session = std::make_shared<Session>(*this, std::move(socket), id);
    {
      std::lock_guard lock(mu);
      sessions.emplace(id, session);
    }
    counters.connections_open.fetch_add(1);
    counters.connections_accepted.fetch_add(1);
    session->start();
  }
  do_accept();
}

void Server::Impl::stop() {
  if (!started || stopped) return;
  stopped = true;
  stopping.store(true);
  asio::post(ioc, [this] {
    beast::error_code ignored;
    acceptor.close(ignored);
    accept_retry.cancel();
  });
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mu);
    for (auto& [id, weak] : sessions) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->request_close(websocket::close_code::going_away);
  live.clear();
  const auto deadline = steady_clock::now() + milliseconds(options.limits.drain_timeout_ms);
  while (counters.connections_open.load() > 0 && steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  work.reset();
  ioc.stop();
  for (auto& t : threads) t.join();
  threads.clear();
  // Whatever did not close in time is finished here, with no loop thread running.
  {
    std::lock_guard lock(mu);
    for (auto& [id, weak] : sessions) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->abandon();
}

TransportStats Server::Impl::snapshot() const {
  TransportStats s;
  s.connections_open = counters.connections_open.load();
  s.connections_accepted = counters.connections_accepted.load();
  s.connections_refused = counters.connections_refused.load();
  s.frames_in = counters.frames_in.load();
  s.frames_out = counters.frames_out.load();
  s.frames_rejected = counters.frames_rejected.load();
  s.write_queue_overflows = counters.write_queue_overflows.load();
  s.idle_timeouts = counters.idle_timeouts.load();
  s.handshake_failures = counters.handshake_failures.load();
  return s;
}

Result<std::unique_ptr<Server>> Server::create(const ServerOptions& options) {
  BC_TRY(validate_limits(options.limits));
  auto impl = std::make_unique<Impl>(options);
  SSL_CTX* ctx = impl->tls.native_handle();
  // TLS 1.3 only; no compression; no session tickets (nothing to resume, less state).
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1) {
    return fail(Errc::kInternal, "TLS 1.3 is not available");
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // Nothing is resumed, so no session is kept after its connection.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  // After the handshake each connection leaves OpenSSL for TlsRecords (see tls_socket.hpp).
  TlsSocket::prepare_context(ctx);
  beast::error_code ec;
  impl->tls.use_certificate_chain_file(options.cert_pem.string(), ec);
  if (ec) return fail(Errc::kMalformed, "cannot load TLS certificate " + options.cert_pem.string());
  impl->tls.use_private_key_file(options.key_pem.string(), ssl::context::pem, ec);
  if (ec) return fail(Errc::kMalformed, "cannot load TLS key " + options.key_pem.string());
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return fail(Errc::kMalformed, "TLS key does not match the certificate");
  }

  const auto address = asio::ip::make_address(options.listen.host, ec);
  if (ec) return fail(Errc::kMalformed, "bad listen host " + options.listen.host);
  const tcp::endpoint endpoint(address, options.listen.port);
  const std::string where = options.listen.host + ":" + std::to_string(options.listen.port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail(Errc::kUnavailable, "cannot listen on " + where + ": " + ec.message());
  impl->bound_port = impl->acceptor.local_endpoint(ec).port();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() { stop(); }

relay::Outbox& Server::outbox() { return *impl_; }

void Server::start(relay::RelayService& service) {
  BC_CHECK(!impl_->started);
  impl_->started = true;
  impl_->service = &service;
  impl_->work.emplace(impl_->ioc.get_executor());
  asio::post(impl_->ioc, [impl = impl_.get()] { impl->do_accept(); });
  for (std::uint32_t i = 0; i < impl_->options.limits.threads; ++i) {
    impl_->threads.emplace_back([impl = impl_.get()] {
      // A handler that throws (only possible on allocation failure) must not end the loop.
      while (true) {
        try {
          impl->ioc.run();
          return;
        } catch (const std::exception& e) {
          std::fprintf(stderr, "backchannel-relay: network loop error: %s\n", e.what());
        }
      }
    });
  }
}

void Server::stop() { impl_->stop(); }
std::uint16_t Server::port() const { return impl_->bound_port; }
TransportStats Server::stats() const { return impl_->snapshot(); }

std::string Server::metrics_text() const {
  std::string out = render_transport_metrics(impl_->snapshot());
  if (impl_->service != nullptr) out += impl_->service->metrics_text();
  return out;
}

}  // namespace bc::net
