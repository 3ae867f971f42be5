// relay_load: load generator for backchannel-relay over TLS WebSocket, with Redis 7 (appendonly,
// appendfsync always; LPUSH by depositors, BLMPOP by the consumer) measured the same way in the
// same run as the anchor, over plain TCP (hiredis) and over TLS 1.3 (the same server's TLS port,
// OpenSSL with hiredis's RESP reader). Prints Markdown tables. Not a test: nothing here asserts
// a speed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "crypto/ed25519.hpp"
#include "crypto/random.hpp"
#include "net/certificate.hpp"
#include "net/client.hpp"
#include "relay/relay_client.hpp"
#include "wire/relay_frames.hpp"

namespace {
namespace fs = std::filesystem;
using namespace bc;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kEnvelopeSize = 1024;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

Bytes make_envelope(std::uint64_t sequence) {
  Bytes out(kEnvelopeSize, 0x5a);
  const std::int64_t t = now_ns();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(sequence >> (56 - 8 * i));
  for (int i = 0; i < 8; ++i) out[8 + i] = static_cast<std::uint8_t>(t >> (56 - 8 * i));
  return out;
}

std::int64_t sent_ns(const std::uint8_t* envelope) {
  std::int64_t t = 0;
  for (int i = 0; i < 8; ++i) t = (t << 8) | envelope[8 + i];
  return t;
}

// Child processes (relay, redis) still running; die() stops them so none is left behind.
std::vector<pid_t> g_children;  // NOLINT: process-wide by nature

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "relay_load: %s\n", message.c_str());
  for (const pid_t pid : g_children) ::kill(pid, SIGTERM);
  std::exit(1);
}

template <typename T>
T check(Result<T> r, const char* what) {
  if (!r) die(std::string(what) + ": " + r.error().message());
  return std::move(r).value();
}
void check(Result<void> r, const char* what) {
  if (!r) die(std::string(what) + ": " + r.error().message());
}

// ---- child processes -----------------------------------------------------------------------

struct Child {
  pid_t pid = -1;
  fs::path log;
  ~Child() { stop(); }
  void stop() {
    if (pid > 0) {
      std::erase(g_children, pid);
      ::kill(pid, SIGTERM);
      int status = 0;
      ::waitpid(pid, &status, 0);
      pid = -1;
    }
  }
};

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void spawn(Child& child, std::vector<std::string> args, const fs::path& log) {
  child.log = log;
  const pid_t pid = ::fork();
  if (pid < 0) die("fork failed");
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  child.pid = pid;
  g_children.push_back(pid);
}

// cpu_seconds is the user plus system CPU time of process `pid`, all its threads (/proc stat).
// own_cpu_seconds: user and system CPU time of this process, all threads.
double own_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may hold spaces: utime and stime
  // are the 12th and 13th of them.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 1; i <= 13 && rest >> field; ++i) {
    if (i >= 12) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::uint64_t rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

struct Relay {
  Child child;
  net::ClientOptions options;
};

// extra_config: `--relay-option KEY=VALUE` lines appended to the relay's configuration.
std::string extra_config;

void start_relay(Relay& relay, const fs::path& binary, const fs::path& dir) {
  fs::create_directories(dir);
  const fs::path config = dir / "relay.conf";
  std::ofstream(config) << "max_connections = 60000\n"
                           "queue_max_messages = 10000000\n"
                           "queue_max_bytes = 100000000000\n"
                           "requests_per_second = 10000000\nrequest_burst = 10000000\n"
                           "rate_frames_per_second = 10000000\nrate_burst = 10000000\n"
                        << extra_config;
  spawn(relay.child,
        {binary.string(), "--listen", "127.0.0.1:0", "--data", (dir / "data").string(), "--config",
         config.string()},
        dir / "relay.log");
  for (int i = 0; i < 1000; ++i) {
    const std::string log = read_all(relay.child.log);
    const auto url = log.find("url: wss://127.0.0.1:");
    const auto fp = log.find("fingerprint: ");
    if (url != std::string::npos && fp != std::string::npos && log.size() >= fp + 13 + 64) {
      relay.options.port = static_cast<std::uint16_t>(std::stoul(log.substr(url + 21)));
      relay.options.fingerprint = check(from_hex(log.substr(fp + 13, 64)), "fingerprint");
      relay.options.timeout_ms = 30'000;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  die("relay did not start: " + read_all(relay.child.log));
}

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// ---- relay protocol helpers ----------------------------------------------------------------

struct Conn {
  std::unique_ptr<net::Client> client;
  relay::RelayClientCodec codec;
  wire::Challenge challenge{};
};

wire::RelayFrame wait_reply(Conn& c, wire::RequestId id) {
  while (true) {
    const Bytes frame = check(c.client->receive(), "receive");
    auto parsed = check(relay::RelayClientCodec::parse(frame), "parse");
    if (parsed.request_id == id) return parsed;
  }
}

Conn open_conn(const net::ClientOptions& options) {
  Conn c;
  c.client = check(net::Client::connect(options), "connect");
  check(c.client->send(check(c.codec.hello(), "hello")), "send hello");
  auto reply = wait_reply(c, c.codec.last_request_id());
  c.challenge = std::get<wire::ChallengeReply>(reply.message).challenge;
  return c;
}

struct Queue {
  crypto::Ed25519KeyPair key;
  wire::QueueCreated ids;
};

Queue make_queue(const net::ClientOptions& options) {
  crypto::SystemRng rng;
  Queue q{crypto::ed25519_generate(rng), {}};
  Conn c = open_conn(options);
  check(c.client->send(check(c.codec.create_queue(q.key.public_key), "create")), "send");
  q.ids = std::get<wire::QueueCreated>(wait_reply(c, c.codec.last_request_id()).message);
  return q;
}

void subscribe(Conn& c, const Queue& q) {
  check(c.client->send(check(c.codec.subscribe(q.ids.recipient_id, q.key.private_key, c.challenge),
                             "subscribe")),
        "send");
  const auto reply = wait_reply(c, c.codec.last_request_id());
  if (!std::holds_alternative<wire::Ok>(reply.message)) die("subscribe refused");
}

// ---- measurement ---------------------------------------------------------------------------

// The systems measured, as the tables name them.
constexpr const char* kRelaySystem = "backchannel-relay";
constexpr const char* kRedisSystem = "redis (AOF, fsync always)";
constexpr const char* kRedisTlsSystem = "redis over TLS 1.3 (AOF, fsync always)";

struct Outcome {
  std::string system;
  std::string load;
  double seconds = 0;
  std::uint64_t messages = 0;
  std::vector<std::int64_t> latencies_ns;
  // From the first deposit to the consumer's receipt of the last acknowledged one: what the
  // consumer got per second, which counts a backlog left behind when depositing stopped.
  double end_to_end_seconds = 0;
  double server_cpu_seconds = 0;  // CPU time of the relay or redis-server process during the load
  double client_cpu_seconds = 0;  // CPU time of this process (depositors and consumer)
  int run = 1;                    // which of --runs
  [[nodiscard]] double rate() const { return seconds > 0 ? messages / seconds : 0; }
  [[nodiscard]] double end_to_end_rate() const {
    return end_to_end_seconds > 0 ? messages / end_to_end_seconds : 0;
  }
  [[nodiscard]] double client_cpu_us_per_message() const {
    return messages > 0 ? client_cpu_seconds * 1e6 / static_cast<double>(messages) : 0;
  }
  [[nodiscard]] double cpu_us_per_message() const {
    return messages > 0 ? server_cpu_seconds * 1e6 / static_cast<double>(messages) : 0;
  }
  [[nodiscard]] double percentile_ms(double p) {
    if (latencies_ns.empty()) return 0;
    std::sort(latencies_ns.begin(), latencies_ns.end());
    const std::size_t i =
        std::min(latencies_ns.size() - 1, static_cast<std::size_t>(p * latencies_ns.size()));
    return latencies_ns[i] / 1e6;
  }
};

// A Consumer receives until it has seen `target` messages (set when depositing ends) or a
// quiet period passes; it records deposit-to-delivery latency of each.
struct LatencySink {
  std::mutex mu;
  std::vector<std::int64_t> latencies;
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::int64_t> last_ns{0};  // when the latest delivery arrived (now_ns clock)
  void record(std::int64_t ns) {
    std::lock_guard lock(mu);
    latencies.push_back(ns);
    received.fetch_add(1);
    last_ns.store(now_ns());
  }
  // end_to_end_seconds: from `start_ns` to the last delivery, never less than the depositing time.
  [[nodiscard]] double end_to_end_seconds(std::int64_t start_ns, double depositing) const {
    return std::max(depositing, static_cast<double>(last_ns.load() - start_ns) / 1e9);
  }
};

// Runs `depositors` threads that each call deposit_one() (returns false when it should stop)
// for `seconds`; returns how many deposits were acknowledged and the elapsed time.
template <typename DepositLoop>
std::pair<std::uint64_t, double> run_depositors(int depositors, double seconds,
                                                DepositLoop make_loop) {
  std::atomic<std::uint64_t> acked{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int i = 0; i < depositors; ++i) {
    threads.emplace_back([&, i] { acked.fetch_add(make_loop(i, stop)); });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop.store(true);
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  return {acked.load(), elapsed};
}

Outcome relay_run(const net::ClientOptions& options, int depositors, int window, double seconds,
                  const std::string& load) {
  const Queue q = make_queue(options);
  LatencySink sink;
  std::atomic<std::uint64_t> target{~0ULL};
  std::atomic<bool> consumer_ready{false};
  std::thread consumer([&] {
    Conn c = open_conn(options);
    subscribe(c, q);
    consumer_ready.store(true);
    // Deliveries are acknowledged with ack_many as they arrive: at once when no acknowledgement
    // is in flight, else as soon as kAckEvery are waiting (in requests of at most
    // wire::kMaxAckMany ids). A consumer that keeps up thus acknowledges each delivery at once,
    // and in a burst several acknowledgements are in flight, so the relay refills the push
    // window before it runs dry (as Redis's consumer takes up to 512 per BLMPOP). Queued
    // acknowledgements leave with the next read that has to wait.
    constexpr std::size_t kAckEvery = 32;
    std::vector<wire::MessageId> unacked;
    int acks_in_flight = 0;
    auto acknowledge = [&] {
      if (unacked.empty() || (acks_in_flight > 0 && unacked.size() < kAckEvery)) return;
      for (std::size_t at = 0; at < unacked.size(); at += wire::kMaxAckMany) {
        const auto from = unacked.begin() + static_cast<std::ptrdiff_t>(at);
        const auto n = static_cast<std::ptrdiff_t>(
            std::min<std::size_t>(wire::kMaxAckMany, unacked.size() - at));
        check(c.client->queue(check(c.codec.ack_many(q.ids.recipient_id,
                                                     std::vector<wire::MessageId>(from, from + n)),
                                    "ack_many")),
              "send ack_many");
        ++acks_in_flight;
      }
      unacked.clear();
    };
    while (sink.received.load() < target.load() || acks_in_flight > 0) {
      auto frame = c.client->receive_for(5'000);
      if (!frame) break;
      auto parsed = relay::RelayClientCodec::parse(*frame);
      if (!parsed) die("bad frame from relay");
      if (auto* d = std::get_if<wire::Delivery>(&parsed->message)) {
        sink.record(now_ns() - sent_ns(d->envelope.data()));
        unacked.push_back(d->message_id);
      } else if (std::holds_alternative<wire::Ok>(parsed->message)) {
        --acks_in_flight;
      } else {
        die("ack_many refused");
      }
      acknowledge();
    }
  });
  while (!consumer_ready.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::atomic<std::uint64_t> sequence{0};
  const std::int64_t start_ns = now_ns();
  auto [acked, elapsed] = run_depositors(depositors, seconds, [&](int, std::atomic<bool>& stop) {
    Conn c = open_conn(options);
    std::uint64_t ok = 0;
    int outstanding = 0;
    while (!stop.load() || outstanding > 0) {
      while (!stop.load() && outstanding < window) {
        check(
            c.client->queue(check(
                c.codec.deposit(q.ids.sender_id, make_envelope(sequence.fetch_add(1))), "deposit")),
            "send deposit");
        ++outstanding;
      }
      const Bytes frame = check(c.client->receive(), "deposit reply");
      const auto parsed = check(relay::RelayClientCodec::parse(frame), "parse");
      --outstanding;
      if (std::holds_alternative<wire::DepositReceipt>(parsed.message)) {
        ++ok;
      } else {
        die("deposit refused");
      }
    }
    return ok;
  });
  target.store(acked);
  consumer.join();
  Outcome out{kRelaySystem, load, elapsed, acked, std::move(sink.latencies)};
  out.end_to_end_seconds = sink.end_to_end_seconds(start_ns, elapsed);
  if (sink.received.load() < acked) {
    std::fprintf(stderr, "relay_load: consumer saw %llu of %llu\n",
                 static_cast<unsigned long long>(sink.received.load()),
                 static_cast<unsigned long long>(acked));
  }
  return out;
}

// RespLink is one blocking Redis connection: plain TCP through hiredis, or TLS 1.3 through
// OpenSSL with hiredis formatting the commands and parsing the replies. Both disable Nagle
// (hiredis does so for its own connections).
class RespLink {
 public:
  RespLink(std::uint16_t port, bool tls) {
    if (!tls) {
      plain_ = redisConnect("127.0.0.1", port);
      if (plain_ == nullptr || plain_->err) die("cannot connect to redis");
      return;
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      die("cannot connect to redis's TLS port");
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (ctx_ == nullptr || SSL_CTX_set_min_proto_version(ctx_, TLS1_3_VERSION) != 1) {
      die("redis TLS: cannot set up OpenSSL");
    }
    // Loopback to a server this process started; the relay's clients pin its certificate, which
    // costs nothing after the handshake either.
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
    ssl_ = SSL_new(ctx_);
    if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1 || SSL_connect(ssl_) != 1) {
      die("redis TLS handshake failed");
    }
    reader_ = redisReaderCreate();
    if (reader_ == nullptr) die("redis reader");
  }
  ~RespLink() {
    if (plain_ != nullptr) redisFree(plain_);
    if (reader_ != nullptr) redisReaderFree(reader_);
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }
  RespLink(const RespLink&) = delete;
  RespLink& operator=(const RespLink&) = delete;

  // append queues a command (hiredis format: %s a C string, %b a pointer and a length).
  void append(const char* format, ...) {
    va_list ap;
    va_start(ap, format);
    if (plain_ != nullptr) {
      const int rc = redisvAppendCommand(plain_, format, ap);
      va_end(ap);
      if (rc != REDIS_OK) die("redis: cannot format a command");
      return;
    }
    char* cmd = nullptr;
    const int len = redisvFormatCommand(&cmd, format, ap);
    va_end(ap);
    if (len < 0) die("redis: cannot format a command");
    out_.append(cmd, static_cast<std::size_t>(len));
    redisFreeCommand(cmd);
  }

  // reply returns the next reply (free it with freeReplyObject); dies on a connection error. As
  // hiredis does, what is queued is sent only when no reply is already at hand.
  redisReply* reply() {
    void* r = nullptr;
    if (plain_ != nullptr) {
      if (redisGetReply(plain_, &r) != REDIS_OK || r == nullptr) die("redis: connection failed");
      return static_cast<redisReply*>(r);
    }
    while (true) {
      if (redisReaderGetReply(reader_, &r) != REDIS_OK) die("redis TLS: bad reply");
      if (r != nullptr) return static_cast<redisReply*>(r);
      if (!out_.empty()) {
        if (SSL_write(ssl_, out_.data(), static_cast<int>(out_.size())) !=
            static_cast<int>(out_.size())) {
          die("redis TLS: write failed");
        }
        out_.clear();
      }
      char buf[16384];
      const int n = SSL_read(ssl_, buf, sizeof buf);
      if (n <= 0) die("redis TLS: read failed");
      if (redisReaderFeed(reader_, buf, static_cast<std::size_t>(n)) != REDIS_OK) {
        die("redis TLS: bad reply");
      }
    }
  }

 private:
  redisContext* plain_ = nullptr;
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  redisReader* reader_ = nullptr;
  std::string out_;
};

Outcome redis_run(std::uint16_t port, bool tls, int depositors, int window, double seconds,
                  const std::string& load, const std::string& key) {
  LatencySink sink;
  std::atomic<std::uint64_t> target{~0ULL};
  std::thread consumer([&] {
    RespLink c(port, tls);
    while (sink.received.load() < target.load()) {
      c.append("BLMPOP 0.5 1 %s RIGHT COUNT 512", key.c_str());
      redisReply* reply = c.reply();
      const std::int64_t now = now_ns();
      if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
        const redisReply* items = reply->element[1];
        for (std::size_t i = 0; i < items->elements; ++i) {
          sink.record(now - sent_ns(reinterpret_cast<const std::uint8_t*>(items->element[i]->str)));
        }
      }
      freeReplyObject(reply);
    }
  });
  std::atomic<std::uint64_t> sequence{0};
  const std::int64_t start_ns = now_ns();
  auto [acked, elapsed] = run_depositors(depositors, seconds, [&](int, std::atomic<bool>& stop) {
    RespLink c(port, tls);
    std::uint64_t ok = 0;
    int outstanding = 0;
    while (!stop.load() || outstanding > 0) {
      while (!stop.load() && outstanding < window) {
        const Bytes env = make_envelope(sequence.fetch_add(1));
        c.append("LPUSH %s %b", key.c_str(), env.data(), env.size());
        ++outstanding;
      }
      redisReply* reply = c.reply();
      if (reply->type == REDIS_REPLY_INTEGER) ++ok;
      freeReplyObject(reply);
      --outstanding;
    }
    return ok;
  });
  target.store(acked);
  consumer.join();
  Outcome out{tls ? kRedisTlsSystem : kRedisSystem, load, elapsed, acked,
              std::move(sink.latencies)};
  out.end_to_end_seconds = sink.end_to_end_seconds(start_ns, elapsed);
  return out;
}

std::string metric_line(const net::ClientOptions& options, const std::string& name) {
  const auto reply = net::https_get(options, "/metrics");
  if (!reply) return "?";
  const auto at = reply->body.find("\n" + name + " ");
  if (at == std::string::npos) return "?";
  const auto end = reply->body.find('\n', at + 1);
  return reply->body.substr(at + 2 + name.size(), end - at - 2 - name.size());
}

}  // namespace

int main(int argc, char** argv) {
  fs::path binary = fs::path(BC_BINARY_DIR) / "bin" / "backchannel-relay";
  double seconds = 5;
  int idle = 10'000;
  int runs = 1;
  bool with_redis = true;
  bool with_redis_tls = true;
  std::string only_load;  // empty: all three
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--relay" && i + 1 < argc) {
      binary = argv[++i];
    } else if (a == "--seconds" && i + 1 < argc) {
      seconds = std::stod(argv[++i]);
    } else if (a == "--idle" && i + 1 < argc) {
      idle = std::stoi(argv[++i]);
    } else if (a == "--runs" && i + 1 < argc) {
      runs = std::stoi(argv[++i]);
      if (runs < 1 || runs > 50) die("--runs: 1 to 50");
    } else if (a == "--no-redis") {
      with_redis = false;
    } else if (a == "--no-redis-tls") {
      with_redis_tls = false;
    } else if (a == "--load" && i + 1 < argc) {
      only_load = argv[++i];
      if (only_load != "1" && only_load != "16" && only_load != "pipelined") {
        die("--load: 1, 16 or pipelined");
      }
    } else if (a == "--relay-option" && i + 1 < argc) {
      extra_config += std::string(argv[++i]) + "\n";
    } else {
      std::fprintf(stderr,
                   "usage: relay_load [--relay BIN] [--seconds S (0: idle connections only)] "
                   "[--runs N] [--idle N] [--no-redis] [--no-redis-tls] [--load 1|16|pipelined] "
                   "[--relay-option KEY=VALUE]...\n");
      return 2;
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  with_redis_tls = with_redis_tls && with_redis;
  // Idle connections need descriptors on both ends (the client side uses four per connection).
  rlimit files{200'000, 200'000};
  if (::setrlimit(RLIMIT_NOFILE, &files) != 0) {
    ::getrlimit(RLIMIT_NOFILE, &files);
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  const fs::path work = fs::temp_directory_path() / ("bc-relay-load-" + std::to_string(::getpid()));
  fs::create_directories(work);

  struct Load {
    std::string name;
    int depositors;
    int window;
  };
  std::vector<Load> loads = {{"1 depositor, waits on each ack", 1, 1},
                             {"16 depositors, each waits on each ack", 16, 1},
                             {"1 depositor, pipelined (window 256)", 1, 256}};
  if (!only_load.empty()) {
    const std::size_t keep = only_load == "1" ? 0 : only_load == "16" ? 1 : 2;
    loads = {loads[keep]};
  }
  std::printf("load average at start: %s", read_all("/proc/loadavg").c_str());
  // Each run measures every load on the relay and then on Redis right after it, so that each
  // ratio compares two measurements taken seconds apart; with --runs N the medians follow.
  std::vector<Outcome> outcomes;
  if (seconds > 0) {
    Relay relay;
    start_relay(relay, binary, work / "relay");
    Child redis;
    const std::uint16_t port = with_redis ? free_port() : 0;
    const std::uint16_t tls_port = with_redis_tls ? free_port() : 0;
    if (with_redis) {
      fs::create_directories(work / "redis");
      std::vector<std::string> args = {"redis-server",
                                       "--port",
                                       std::to_string(port),
                                       "--bind",
                                       "127.0.0.1",
                                       "--dir",
                                       (work / "redis").string(),
                                       "--appendonly",
                                       "yes",
                                       "--appendfsync",
                                       "always",
                                       "--save",
                                       "",
                                       "--daemonize",
                                       "no",
                                       "--protected-mode",
                                       "yes"};
      if (with_redis_tls) {
        // The same server also listens with TLS (TLS 1.3 only, no client certificates), with a
        // self-signed Ed25519 certificate like the relay's.
        fs::create_directories(work / "redis-tls");
        const auto cert = net::ensure_self_signed(work / "redis-tls", "127.0.0.1");
        if (!cert) die("cannot create a certificate for redis: " + cert.error().message());
        args.insert(args.end(), {"--tls-port", std::to_string(tls_port), "--tls-cert-file",
                                 cert->cert.string(), "--tls-key-file", cert->key.string(),
                                 "--tls-ca-cert-file", cert->cert.string(), "--tls-auth-clients",
                                 "no", "--tls-protocols", "TLSv1.3"});
      }
      spawn(redis, args, work / "redis.log");
      bool up = false;
      for (int i = 0; i < 500 && !up; ++i) {
        redisContext* c = redisConnect("127.0.0.1", port);
        up = c != nullptr && c->err == 0;
        if (c != nullptr) redisFree(c);
        if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (!up) {
        die("redis-server did not start (its log: " + (work / "redis.log").string() + ")" +
            (with_redis_tls ? "; a build without TLS needs --no-redis-tls" : ""));
      }
    }
    // measure runs one load on one system and records the server's and this process's CPU.
    auto measure = [&](int run, pid_t server, const std::function<Outcome()>& load) {
      const double cpu = cpu_seconds(server);
      const double own = own_cpu_seconds();
      outcomes.push_back(load());
      outcomes.back().server_cpu_seconds = cpu_seconds(server) - cpu;
      outcomes.back().client_cpu_seconds = own_cpu_seconds() - own;
      outcomes.back().run = run;
    };
    int n = 0;
    for (int run = 1; run <= runs; ++run) {
      for (const auto& l : loads) {
        measure(run, relay.child.pid,
                [&] { return relay_run(relay.options, l.depositors, l.window, seconds, l.name); });
        if (!with_redis) continue;
        for (const bool tls : {false, true}) {
          if (tls && !with_redis_tls) continue;
          measure(run, redis.pid, [&] {
            return redis_run(tls ? tls_port : port, tls, l.depositors, l.window, seconds, l.name,
                             "q" + std::to_string(n++));
          });
        }
      }
    }
    relay.child.stop();
  }

  std::printf(
      "\n| run | load | system | msgs/s end to end | deposits/s | p50 ms | p99 ms | messages | "
      "server CPU us/msg | client CPU us/msg |\n"
      "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (auto& o : outcomes) {
    std::printf("| %d | %s | %s | %.0f | %.0f | %.2f | %.2f | %llu | %.1f | %.1f |\n", o.run,
                o.load.c_str(), o.system.c_str(), o.end_to_end_rate(), o.rate(),
                o.percentile_ms(0.50), o.percentile_ms(0.99),
                static_cast<unsigned long long>(o.messages), o.cpu_us_per_message(),
                o.client_cpu_us_per_message());
  }
  if (with_redis && seconds > 0) {
    // Each relay outcome is followed by the Redis ones of the same run and load.
    std::printf(
        "\n| run | load | anchor | relay / anchor throughput (end to end) | relay / anchor "
        "server CPU per message |\n"
        "|---:|---|---|---:|---:|\n");
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      const Outcome& relay = outcomes[i];
      if (relay.system != kRelaySystem) continue;
      for (std::size_t j = i + 1; j < outcomes.size() && outcomes[j].system != kRelaySystem; ++j) {
        const Outcome& anchor = outcomes[j];
        std::printf("| %d | %s | %s | %.2f | %.2f |\n", relay.run, relay.load.c_str(),
                    anchor.system.c_str(), relay.end_to_end_rate() / anchor.end_to_end_rate(),
                    relay.cpu_us_per_message() / anchor.cpu_us_per_message());
      }
    }
  }
  if (runs > 1 && seconds > 0) {
    // Medians over the runs, per load and system; the ratio is that of the two medians.
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      const std::size_t m = v.size() / 2;
      return v.size() % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
    };
    std::printf(
        "\n| load | system | median msgs/s end to end | median p99 ms | median server CPU "
        "us/msg |\n"
        "|---|---|---:|---:|---:|\n");
    std::vector<std::string> ratios;  // one line per load and anchor: the ratio of the medians
    for (const auto& l : loads) {
      double relay_rate = 0;
      for (const char* system : {kRelaySystem, kRedisSystem, kRedisTlsSystem}) {
        std::vector<double> rate, p99, cpu;
        for (auto& o : outcomes) {
          if (o.load != l.name || o.system != system) continue;
          rate.push_back(o.end_to_end_rate());
          p99.push_back(o.percentile_ms(0.99));
          cpu.push_back(o.cpu_us_per_message());
        }
        if (rate.empty()) continue;
        std::printf("| %s | %s | %.0f | %.2f | %.1f |\n", l.name.c_str(), system, median(rate),
                    median(p99), median(cpu));
        if (std::string_view(system) == kRelaySystem) {
          relay_rate = median(rate);
        } else {
          char line[256];
          std::snprintf(line, sizeof line, "| %s | %s | %.2f |\n", l.name.c_str(), system,
                        relay_rate / median(rate));
          ratios.emplace_back(line);
        }
      }
    }
    if (!ratios.empty()) {
      std::printf(
          "\n| load | anchor | relay / anchor, medians of msgs/s end to end |\n|---|---|---:|\n");
      for (const std::string& line : ratios) std::printf("%s", line.c_str());
    }
  }
  std::fflush(stdout);

  // Idle connections: relay RSS before and after `idle` TLS WebSocket connections that sent Hello.
  // Client processes hold 2,000 connections each (each client connection costs this side four
  // descriptors, and the descriptor limit may not be raisable).
  if (idle > 0) {
    Relay relay;
    start_relay(relay, binary, work / "idle");
    {
      Conn warm = open_conn(relay.options);  // first-use allocations are not per-connection
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const std::uint64_t before = rss_kib(relay.child.pid);
    int hold[2];
    if (::pipe(hold) != 0) die("pipe");
    std::vector<pid_t> holders;
    constexpr int kPerProcess = 2'000;
    for (int opened = 0; opened < idle; opened += kPerProcess) {
      const int n = std::min(kPerProcess, idle - opened);
      int ready[2];
      if (::pipe(ready) != 0) die("pipe");
      const pid_t pid = ::fork();
      if (pid == 0) {
        ::close(hold[1]);
        ::close(ready[0]);
        std::vector<Conn> conns;
        conns.reserve(n);
        for (int i = 0; i < n; ++i) conns.push_back(open_conn(relay.options));
        const char one = 1;
        (void)!::write(ready[1], &one, 1);
        char byte = 0;
        (void)!::read(hold[0], &byte, 1);  // until the parent closes its end
        ::_exit(0);
      }
      ::close(ready[1]);
      char byte = 0;
      if (::read(ready[0], &byte, 1) != 1) die("idle connection holder failed");
      ::close(ready[0]);
      holders.push_back(pid);
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const std::uint64_t after = rss_kib(relay.child.pid);
    std::printf(
        "\nidle connections: %d open (relay reports %s), relay RSS %llu KiB -> %llu KiB, "
        "%.2f KiB per connection\n",
        idle, metric_line(relay.options, "bc_transport_connections_open").c_str(),
        static_cast<unsigned long long>(before), static_cast<unsigned long long>(after),
        static_cast<double>(after - before) / idle);
    ::close(hold[1]);
    for (const pid_t pid : holders) ::waitpid(pid, nullptr, 0);
    relay.child.stop();
  }

  // Slow consumer: a subscriber that never reads while 4 depositors push 1 KiB envelopes.
  if (seconds > 0) {
    Relay relay;
    start_relay(relay, binary, work / "slow");
    const Queue q = make_queue(relay.options);
    Conn slow = open_conn(relay.options);
    subscribe(slow, q);
    const std::uint64_t before = rss_kib(relay.child.pid);
    std::atomic<std::uint64_t> peak{before};
    std::atomic<bool> sampling{true};
    std::thread sampler([&] {
      while (sampling.load()) {
        peak.store(std::max(peak.load(), rss_kib(relay.child.pid)));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
    std::atomic<std::uint64_t> sequence{0};
    auto [acked, elapsed] = run_depositors(4, seconds, [&](int, std::atomic<bool>& stop) {
      Conn c = open_conn(relay.options);
      std::uint64_t ok = 0;
      while (!stop.load()) {
        check(
            c.client->send(check(
                c.codec.deposit(q.ids.sender_id, make_envelope(sequence.fetch_add(1))), "deposit")),
            "send");
        (void)wait_reply(c, c.codec.last_request_id());
        ++ok;
      }
      return ok;
    });
    sampling.store(false);
    sampler.join();
    std::printf(
        "slow consumer: %llu envelopes (%.1f MiB) deposited in %.1f s for a reader that "
        "never reads; relay RSS %llu KiB before, peak %llu KiB; write-queue overflows: "
        "%s\n",
        static_cast<unsigned long long>(acked), acked * kEnvelopeSize / 1048576.0, elapsed,
        static_cast<unsigned long long>(before), static_cast<unsigned long long>(peak.load()),
        metric_line(relay.options, "bc_transport_write_queue_overflows_total").c_str());
    relay.child.stop();
  }
  std::printf("load average at end: %s", read_all("/proc/loadavg").c_str());
  std::error_code ec;
  fs::remove_all(work, ec);
  return 0;
}
