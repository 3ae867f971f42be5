// Integration tests of backchannel-relay over TLS: end to end, pinning, /healthz and /metrics,
// malformed, truncated, oversized and slow input, full queues, command line and SIGTERM.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <thread>

#include "crypto/random.hpp"
#include "relay_harness.hpp"

namespace bc::test {
namespace {
namespace fs = std::filesystem;

using wire::RelayErrorCode;

crypto::Ed25519KeyPair owner_key() {
  crypto::SystemRng rng;
  return crypto::ed25519_generate(rng);
}

// A relay with a small idle timeout and handshake timeout so slow-input tests finish quickly.
constexpr const char* kFastConfig =
    "idle_timeout_ms = 3000\n"
    "handshake_timeout_ms = 1500\n"
    "write_queue_max_frames = 256\n"
    "write_queue_max_bytes = 1048576\n"
    "queue_max_messages = 100\n";

class RelayBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>("bc-relay-it");
    auto relay = RelayProcess::start(dir_->path() / "data", kFastConfig);
    ASSERT_TRUE(relay) << relay.error().message();
    relay_ = std::move(*relay);
  }

  std::unique_ptr<RelayConn> connect() {
    auto conn = RelayConn::open(relay_->options());
    EXPECT_TRUE(conn) << conn.error().message();
    if (!conn) return nullptr;
    auto challenge = (*conn)->hello();
    EXPECT_TRUE(challenge) << challenge.error().message();
    return std::move(*conn);
  }

  // expect_usable checks that a fresh connection still gets answers (the relay survived).
  void expect_usable() {
    auto conn = connect();
    ASSERT_NE(conn, nullptr);
    const auto key = owner_key();
    EXPECT_TRUE(conn->create_queue(key.public_key));
  }

  // expect_closed checks that the relay closes `conn`: the read ends in an error that is not
  // this client's own 20 s timeout.
  static void expect_closed(RelayConn& conn) {
    const auto frame = conn.client().receive_for(20'000);
    ASSERT_FALSE(frame);
    EXPECT_EQ(frame.error().detail.find("timeout"), std::string::npos)
        << "the relay kept the connection open: " << frame.error().detail;
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<RelayProcess> relay_;
};

TEST_F(RelayBinaryTest, DepositSubscribePushAckEndToEnd) {
  const auto key = owner_key();
  auto owner = connect();
  ASSERT_NE(owner, nullptr);
  const auto queue = owner->create_queue(key.public_key);
  ASSERT_TRUE(queue) << queue.error().message();

  // Deposits made before the owner subscribes are stored and pushed on subscription, in order.
  auto sender = connect();
  ASSERT_NE(sender, nullptr);
  for (std::uint64_t i = 1; i <= 3; ++i) {
    const auto reply = sender->deposit(queue->sender_id, envelope_with(i, 1024));
    ASSERT_TRUE(reply) << reply.error().message();
    ASSERT_TRUE(std::holds_alternative<wire::DepositReceipt>(*reply));
  }
  ASSERT_TRUE(owner->subscribe(queue->recipient_id, key.private_key));
  std::vector<wire::MessageId> ids;
  for (std::uint64_t i = 1; i <= 3; ++i) {
    const auto d = owner->next_delivery();
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_EQ(d->recipient_id, queue->recipient_id);
    EXPECT_EQ(sequence_of(d->envelope), i);
    EXPECT_EQ(d->envelope.size(), 1024u);
    ids.push_back(d->message_id);
  }
  // A deposit while subscribed is pushed at once.
  ASSERT_TRUE(sender->deposit(queue->sender_id, envelope_with(4)));
  const auto live = owner->next_delivery();
  ASSERT_TRUE(live);
  EXPECT_EQ(sequence_of(live->envelope), 4u);
  ids.push_back(live->message_id);
  // Acknowledge all but the last; after reconnecting only the last comes back.
  for (std::size_t i = 0; i + 1 < ids.size(); ++i) {
    ASSERT_TRUE(owner->ack(queue->recipient_id, ids[i]));
  }
  owner.reset();
  auto again = connect();
  ASSERT_NE(again, nullptr);
  ASSERT_TRUE(again->subscribe(queue->recipient_id, key.private_key));
  const auto redelivered = again->next_delivery();
  ASSERT_TRUE(redelivered);
  EXPECT_EQ(sequence_of(redelivered->envelope), 4u);
  ASSERT_TRUE(again->ack(queue->recipient_id, redelivered->message_id));

  // The relay logs no queue ids at the default level.
  const std::string log = relay_->log();
  EXPECT_EQ(log.find(to_hex(queue->sender_id)), std::string::npos);
  EXPECT_EQ(log.find(to_hex(queue->recipient_id)), std::string::npos);
  EXPECT_EQ(log.find(to_hex(key.public_key.view())), std::string::npos);
}

TEST_F(RelayBinaryTest, LargeEnvelopesArePushedWholeAndInOrderAmongOtherReplies) {
  // 64 KiB envelopes span five TLS records each; pushed after a group commit, they are written
  // to the subscriber's socket by the relay's writer itself, while the subscriber's own requests
  // are answered by its network thread. Every frame must arrive whole and in order.
  const auto key = owner_key();
  auto owner = connect();
  ASSERT_NE(owner, nullptr);
  const auto queue = owner->create_queue(key.public_key);
  ASSERT_TRUE(queue) << queue.error().message();
  ASSERT_TRUE(owner->subscribe(queue->recipient_id, key.private_key));
  auto sender = connect();
  ASSERT_NE(sender, nullptr);
  constexpr std::uint64_t kEnvelopes = 12;
  constexpr std::size_t kSize = 64 * 1024;
  for (std::uint64_t i = 1; i <= kEnvelopes; ++i) {
    ASSERT_TRUE(sender->client().queue(
        *sender->codec().deposit(queue->sender_id, envelope_with(i, kSize))));
  }
  ASSERT_TRUE(sender->client().flush());
  // Requests answered at once, while the pushes are on their way.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(owner->hello());
  for (std::uint64_t i = 1; i <= kEnvelopes; ++i) {
    const auto d = owner->next_delivery();
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_EQ(sequence_of(d->envelope), i);
    EXPECT_EQ(d->envelope, envelope_with(i, kSize)) << "envelope " << i << " changed";
    ASSERT_TRUE(owner->ack(queue->recipient_id, d->message_id));
  }
  for (std::uint64_t i = 1; i <= kEnvelopes; ++i) {
    const auto receipt = sender->client().receive_for(10'000);
    ASSERT_TRUE(receipt) << receipt.error().message();
    const auto parsed = relay::RelayClientCodec::parse(*receipt);
    ASSERT_TRUE(parsed) << parsed.error().message();
    EXPECT_TRUE(std::holds_alternative<wire::DepositReceipt>(parsed->message));
  }
}

TEST(RelayConfigFile, PushWindowBytesBoundsWhatASubscriberIsSent) {
  TempDir dir("bc-relay-window");
  auto relay = RelayProcess::start(dir.path() / "data", "push_window_bytes = 1024\n");
  ASSERT_TRUE(relay) << relay.error().message();
  auto open = [&] {
    auto conn = RelayConn::open((*relay)->options());
    EXPECT_TRUE(conn) << conn.error().message();
    if (conn) {
      EXPECT_TRUE((*conn)->hello());
    }
    return conn ? std::move(*conn) : nullptr;
  };
  const auto key = owner_key();
  auto owner = open();
  auto sender = open();
  ASSERT_NE(owner, nullptr);
  ASSERT_NE(sender, nullptr);
  const auto queue = owner->create_queue(key.public_key);
  ASSERT_TRUE(queue) << queue.error().message();
  for (std::uint64_t i = 1; i <= 2; ++i) {
    ASSERT_TRUE(sender->deposit(queue->sender_id, envelope_with(i, 1024)));
  }
  ASSERT_TRUE(owner->subscribe(queue->recipient_id, key.private_key));
  const auto first = owner->next_delivery();
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(sequence_of(first->envelope), 1u);
  // 1 KiB is in flight: the second envelope waits for its acknowledgement.
  auto deliveries = [&](int n) {
    const auto metrics = net::https_get((*relay)->options(), "/metrics");
    EXPECT_TRUE(metrics) << metrics.error().message();
    const std::string line = "\nbc_relay_deliveries_total " + std::to_string(n) + "\n";
    return metrics && metrics->body.find(line) != std::string::npos;
  };
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(deliveries(1));
  ASSERT_TRUE(owner->ack(queue->recipient_id, first->message_id));
  const auto second = owner->next_delivery();
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(sequence_of(second->envelope), 2u);
  EXPECT_TRUE(deliveries(2));
}

TEST_F(RelayBinaryTest, WrongPinIsRefused) {
  auto options = relay_->options();
  options.fingerprint[0] ^= 0x01;
  const auto conn = net::Client::connect(options);
  ASSERT_FALSE(conn);
  EXPECT_EQ(conn.error().code, Errc::kAuthFailed);
  const auto get = net::https_get(options, "/healthz");
  ASSERT_FALSE(get);
  EXPECT_EQ(get.error().code, Errc::kAuthFailed);
  options.fingerprint.clear();
  const auto no_pin = net::Client::connect(options);
  ASSERT_FALSE(no_pin);
  EXPECT_EQ(no_pin.error().code, Errc::kAuthFailed);
  expect_usable();
}

TEST_F(RelayBinaryTest, ClientGivesUpAtItsOwnTimeoutAndIsThenClosed) {
  auto conn = connect();
  ASSERT_NE(conn, nullptr);
  // The relay sends nothing unasked: this read can only end by the client's own deadline.
  auto waited = std::async(std::launch::async, [&] { return conn->client().receive_for(300); });
  if (waited.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    ADD_FAILURE() << "receive_for(300) was still waiting after 60 s";
    std::_Exit(1);  // a read blocked for good cannot be abandoned
  }
  const auto frame = waited.get();
  ASSERT_FALSE(frame);
  EXPECT_EQ(frame.error().code, Errc::kUnavailable);
  EXPECT_NE(frame.error().detail.find("timeout"), std::string::npos) << frame.error().detail;
  // The connection is given up: the next call fails at once.
  const auto again = conn->client().send(Bytes{1, 2, 3});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().detail, "connection is closed");
  // The relay itself is unaffected.
  expect_usable();
}

TEST_F(RelayBinaryTest, QueuedFramesLeaveInOrderWithTheNextReceive) {
  auto conn = connect();
  ASSERT_NE(conn, nullptr);
  // Three requests queued, none flushed: the first receive must send them before it waits.
  std::vector<wire::RequestId> ids;
  std::vector<crypto::Ed25519KeyPair> keys;
  for (int i = 0; i < 3; ++i) {
    keys.push_back(owner_key());
    ASSERT_TRUE(conn->client().queue(*conn->codec().create_queue(keys.back().public_key)));
    ids.push_back(conn->codec().last_request_id());
  }
  for (const wire::RequestId id : ids) {
    const auto frame = conn->client().receive_for(10'000);
    ASSERT_TRUE(frame) << frame.error().message();
    const auto parsed = relay::RelayClientCodec::parse(*frame);
    ASSERT_TRUE(parsed) << parsed.error().message();
    EXPECT_EQ(parsed->request_id, id);
    EXPECT_TRUE(std::holds_alternative<wire::QueueCreated>(parsed->message));
  }
  // flush sends what is queued without waiting for anything: a deposit queued and flushed by
  // `conn`, which then reads nothing, reaches the queue's subscriber.
  auto owner = connect();
  ASSERT_NE(owner, nullptr);
  const auto key = owner_key();
  const auto created = owner->create_queue(key.public_key);
  ASSERT_TRUE(created);
  ASSERT_TRUE(owner->subscribe(created->recipient_id, key.private_key));
  ASSERT_TRUE(conn->client().queue(*conn->codec().deposit(created->sender_id, envelope_with(7))));
  ASSERT_TRUE(conn->client().flush());
  const auto delivery = owner->next_delivery(10'000);
  ASSERT_TRUE(delivery) << delivery.error().message();
  EXPECT_EQ(sequence_of(delivery->envelope), 7U);
}

TEST_F(RelayBinaryTest, HealthzAndMetrics) {
  const auto health = net::https_get(relay_->options(), "/healthz");
  ASSERT_TRUE(health) << health.error().message();
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok\n");

  auto conn = connect();
  ASSERT_NE(conn, nullptr);
  const auto metrics = net::https_get(relay_->options(), "/metrics");
  ASSERT_TRUE(metrics) << metrics.error().message();
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->body.find("\nbc_transport_connections_open "), std::string::npos);
  EXPECT_NE(metrics->body.find("\nbc_transport_frames_in_total "), std::string::npos);
  EXPECT_NE(metrics->body.find("\nbc_transport_frames_rejected_total "), std::string::npos);
  EXPECT_NE(metrics->body.find("\nbc_relay_deposits_total "), std::string::npos);
  EXPECT_NE(metrics->body.find("bc_relay_fsync_seconds"), std::string::npos);

  const auto missing = net::https_get(relay_->options(), "/nothing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST_F(RelayBinaryTest, MalformedRelayFrameClosesOnlyThatConnection) {
  auto bystander = connect();
  ASSERT_NE(bystander, nullptr);
  auto bad = connect();
  ASSERT_NE(bad, nullptr);
  const Bytes junk = {wire::kRelayProtocolVersion, 0xee, 0, 0, 0, 9, 1, 2, 3};
  ASSERT_TRUE(bad->client().send(junk));
  // The relay may answer malformed before closing; either way the connection ends.
  bool closed = false;
  for (int i = 0; i < 3 && !closed; ++i) closed = !bad->client().receive_for(20'000);
  EXPECT_TRUE(closed);
  const auto key = owner_key();
  EXPECT_TRUE(bystander->create_queue(key.public_key));
  expect_usable();
}

TEST_F(RelayBinaryTest, InvalidWebSocketBytesCloseOnlyThatConnection) {
  auto bystander = connect();
  ASSERT_NE(bystander, nullptr);
  auto bad = connect();
  ASSERT_NE(bad, nullptr);
  // An unmasked client frame with reserved bits and opcode set: a protocol violation.
  const Bytes junk = {0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
  ASSERT_TRUE(bad->client().send_raw(junk));
  expect_closed(*bad);
  const auto key = owner_key();
  EXPECT_TRUE(bystander->create_queue(key.public_key));
}

TEST_F(RelayBinaryTest, OversizedFrameClosesOnlyThatConnection) {
  auto bystander = connect();
  ASSERT_NE(bystander, nullptr);
  auto bad = connect();
  ASSERT_NE(bad, nullptr);
  const Bytes huge(64 * 1024 + 4096, 0x42);
  (void)bad->client().send(huge);  // the relay may close before the whole frame is written
  expect_closed(*bad);
  const auto key = owner_key();
  EXPECT_TRUE(bystander->create_queue(key.public_key));
  const auto metrics = net::https_get(relay_->options(), "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->body.find("\nbc_transport_frames_rejected_total 0\n"), std::string::npos);
}

TEST_F(RelayBinaryTest, TruncatedFrameFromSlowClientIsClosedAtIdleTimeout) {
  auto slow = connect();
  ASSERT_NE(slow, nullptr);
  // A masked binary frame header announcing 1000 bytes, then only 10 of them, then silence.
  Bytes partial = {0x82, 0x80 | 126, 0x03, 0xe8, 1, 2, 3, 4};
  partial.insert(partial.end(), 10, 0x33);
  ASSERT_TRUE(slow->client().send_raw(partial));
  // The bystander arrives halfway through the slow client's idle timeout (3 s), so that it is
  // still well inside its own when the slow one is dropped.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto bystander = connect();
  ASSERT_NE(bystander, nullptr);
  expect_closed(*slow);
  const auto key = owner_key();
  EXPECT_TRUE(bystander->create_queue(key.public_key));
}

TEST_F(RelayBinaryTest, SlowlorisHandshakeIsClosedAtHandshakeTimeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(relay_->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  // Two bytes of a TLS record header, then nothing: the relay must hang up on its own.
  const unsigned char start[2] = {0x16, 0x03};
  ASSERT_EQ(::send(fd, start, sizeof start, 0), 2);
  pollfd pfd{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&pfd, 1, 30'000), 1) << "relay kept a stalled handshake open";
  char buf[64];
  EXPECT_LE(::recv(fd, buf, sizeof buf, 0), 0);
  ::close(fd);
  expect_usable();
}

TEST_F(RelayBinaryTest, FullMailboxGivesQueueFullAndKeepsWhatItHolds) {
  const auto key = owner_key();
  auto conn = connect();
  ASSERT_NE(conn, nullptr);
  const auto queue = conn->create_queue(key.public_key);
  ASSERT_TRUE(queue);
  for (std::uint64_t i = 0; i < 100; ++i) {
    const auto reply = conn->deposit(queue->sender_id, envelope_with(i));
    ASSERT_TRUE(reply);
    ASSERT_TRUE(std::holds_alternative<wire::DepositReceipt>(*reply)) << i;
  }
  const auto full = conn->deposit(queue->sender_id, envelope_with(100));
  ASSERT_TRUE(full);
  const auto* error = std::get_if<wire::ErrorReply>(&*full);
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(error->code, RelayErrorCode::kQueueFull);
  ASSERT_TRUE(conn->subscribe(queue->recipient_id, key.private_key));
  for (std::uint64_t i = 0; i < 100; ++i) {
    const auto d = conn->next_delivery();
    ASSERT_TRUE(d) << i;
    EXPECT_EQ(sequence_of(d->envelope), i);
    const auto acked = conn->ack(queue->recipient_id, d->message_id);
    ASSERT_TRUE(acked) << i << ": " << acked.error().message();
  }
}

TEST_F(RelayBinaryTest, ReaderThatNeverReadsOverflowsItsWriteQueueAndIsClosed) {
  const auto key = owner_key();
  auto owner = connect();
  ASSERT_NE(owner, nullptr);
  const auto queue = owner->create_queue(key.public_key);
  ASSERT_TRUE(queue);
  ASSERT_TRUE(owner->subscribe(queue->recipient_id, key.private_key));
  const wire::PrekeyBundle bundle{Bytes(256, 1), Bytes(1024, 2), {}};
  const auto published = owner->request(owner->codec().publish_bundle(queue->recipient_id, bundle));
  ASSERT_TRUE(published) << published.error().message();
  ASSERT_TRUE(std::holds_alternative<wire::Ok>(published->message));

  // Ask for 4000 bundles (about 1.3 KiB each, 5 MiB of replies) and read none of them: the
  // kernel's buffers fill, then the relay's 1 MiB write queue, and the relay drops the client.
  auto greedy = connect();
  ASSERT_NE(greedy, nullptr);
  constexpr int kRequests = 4000;
  for (int i = 0; i < kRequests; ++i) {
    const auto frame = greedy->codec().fetch_bundle(queue->sender_id);
    ASSERT_TRUE(frame);
    if (!greedy->client().send(*frame)) break;
  }
  bool overflowed = false;
  for (int i = 0; i < 400 && !overflowed; ++i) {
    const auto metrics = net::https_get(relay_->options(), "/metrics");
    ASSERT_TRUE(metrics);
    overflowed =
        metrics->body.find("\nbc_transport_write_queue_overflows_total 0\n") == std::string::npos;
    if (!overflowed) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(overflowed);
  // What the kernel already held can still be read; then the connection ends, short of 4000.
  int replies = 0;
  while (greedy->client().receive_for(20'000)) ++replies;
  EXPECT_LT(replies, kRequests);
  // Others are unaffected. (The owner itself has been quiet longer than this relay's 3 s idle
  // timeout by now, so a newcomer stands in for it.)
  expect_usable();
}

TEST_F(RelayBinaryTest, SigtermDrainsAndExitsZero) {
  auto conn = connect();
  ASSERT_NE(conn, nullptr);
  EXPECT_EQ(relay_->terminate(), 0);
  expect_closed(*conn);
  EXPECT_NE(relay_->log().find("stopped"), std::string::npos);
}

TEST_F(RelayBinaryTest, RestartReusesTheCertificate) {
  const Bytes first = relay_->fingerprint();
  ASSERT_EQ(relay_->terminate(), 0);
  auto again = RelayProcess::start(dir_->path() / "data", kFastConfig);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ((*again)->fingerprint(), first);
}

TEST_F(RelayBinaryTest, SigningKeyIsMadeOnceKeptPrivateAndSentInTheHandshake) {
  const fs::path key_file = dir_->path() / "data" / "relay-signing.key";
  ASSERT_EQ(fs::file_size(key_file), 32u);
  EXPECT_EQ(fs::status(key_file).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  ASSERT_EQ(relay_->signing_key().size(), 32u);
  auto conn = connect();
  ASSERT_NE(conn, nullptr);
  EXPECT_EQ(to_bytes(conn->relay_key()), relay_->signing_key());
  // The seed never reaches the log: neither it nor anything but the public key is printed.
  std::ifstream in(key_file, std::ios::binary);
  const std::string seed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(relay_->log().find(to_hex(as_bytes(seed))), std::string::npos);

  const Bytes first = relay_->signing_key();
  ASSERT_EQ(relay_->terminate(), 0);
  auto again = RelayProcess::start(dir_->path() / "data", kFastConfig);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ((*again)->signing_key(), first);
}

TEST_F(RelayBinaryTest, UnreadableOrExposedSigningKeyStopsTheRelay) {
  ASSERT_EQ(relay_->terminate(), 0);
  const fs::path key_file = dir_->path() / "data" / "relay-signing.key";
  fs::permissions(key_file, fs::perms::group_read, fs::perm_options::add);
  auto exposed = RelayProcess::start(dir_->path() / "data", kFastConfig);
  ASSERT_FALSE(exposed);
  EXPECT_NE(exposed.error().message().find("readable by others"), std::string::npos);

  fs::permissions(key_file, fs::perms::owner_read | fs::perms::owner_write);
  fs::resize_file(key_file, 31);
  auto truncated = RelayProcess::start(dir_->path() / "data", kFastConfig);
  ASSERT_FALSE(truncated);
  EXPECT_NE(truncated.error().message().find("not a 32-byte relay signing key"), std::string::npos);
  EXPECT_EQ(fs::file_size(key_file), 31u);  // a bad key is refused, never replaced
}

// run_relay runs the binary with `args` and returns its exit code.
int run_relay(std::vector<std::string> args) {
  args.insert(args.begin(), relay_binary().string());
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::FILE* out = std::freopen("/dev/null", "w", stdout);
    std::FILE* err = std::freopen("/dev/null", "w", stderr);
    (void)out;
    (void)err;
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(RelayCommandLine, BadUsageExitsTwo) {
  TempDir dir("bc-relay-cli");
  const std::string data = (dir.path() / "data").string();
  EXPECT_EQ(run_relay({"--version"}), 0);
  EXPECT_EQ(run_relay({"--help"}), 0);
  EXPECT_EQ(run_relay({}), 2);
  EXPECT_EQ(run_relay({"--data", data}), 2);
  EXPECT_EQ(run_relay({"--listen", "127.0.0.1:0"}), 2);
  EXPECT_EQ(run_relay({"--listen", "localhost:1", "--data", data}), 2);
  EXPECT_EQ(run_relay({"--listen", "127.0.0.1:0", "--data", data, "--bogus"}), 2);
  EXPECT_EQ(run_relay({"--listen", "127.0.0.1:0", "--data", data, "--tls-cert", "x"}), 2);
  EXPECT_EQ(run_relay({"--listen", "127.0.0.1:0", "--data", data, "--config",
                       (dir.path() / "absent.conf").string()}),
            2);
  const auto bad_config = dir.path() / "bad.conf";
  {
    std::FILE* f = std::fopen(bad_config.c_str(), "w");
    std::fputs("no_such_limit = 3\n", f);
    std::fclose(f);
  }
  EXPECT_EQ(run_relay({"--listen", "127.0.0.1:0", "--data", data, "--config", bad_config}), 2);
  // Nothing was created by refused invocations.
  EXPECT_FALSE(std::filesystem::exists(data));
}

}  // namespace
}  // namespace bc::test
