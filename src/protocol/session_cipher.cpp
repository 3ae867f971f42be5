#include "protocol/session_cipher.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <vector>

#include "crypto/cipher.hpp"
#include "crypto/hash.hpp"
#include "crypto/x25519.hpp"
#include "wire/whisper.hpp"

namespace bc::protocol {
namespace {

constexpr std::size_t kDhSize = 32;

// X3DH builds 0xFF * 32 || DH1 || DH2 || DH3 [|| DH4] in locked memory.
class MasterSecret {
 public:
  explicit MasterSecret(bool with_one_time) : secret_(kDhSize * (with_one_time ? 5 : 4)) {
    std::memset(secret_.expose_mut().data(), 0xFF, kDhSize);
    used_ = kDhSize;
  }
  Result<void> add(const crypto::X25519PrivateKey& ours, const PublicKey& theirs) {
    auto shared = crypto::x25519(ours, theirs.raw());
    if (!shared) return fail(Errc::kAuthFailed, "key agreement failed");
    BC_CHECK(used_ + kDhSize <= secret_.size());
    std::memcpy(secret_.expose_mut().data() + used_, shared->expose().data(), kDhSize);
    used_ += kDhSize;
    return ok();
  }
  [[nodiscard]] ByteView bytes() const {
    BC_CHECK(used_ == secret_.size());
    return secret_.expose();
  }

 private:
  SecretBytes secret_;
  std::size_t used_ = 0;
};

Result<SessionState> initialize_alice(const IdentityKeyPair& our_identity, const KeyPair& our_base,
                                      const IdentityKey& their_identity,
                                      const PublicKey& their_signed_prekey,
                                      const PublicKey* their_one_time_prekey, Rng& rng) {
  MasterSecret secret(their_one_time_prekey != nullptr);
  BC_TRY(secret.add(our_identity.pair.private_key, their_signed_prekey));  // DH(IK_A, SPK_B)
  BC_TRY(secret.add(our_base.private_key, their_identity.key));            // DH(EK_A, IK_B)
  BC_TRY(secret.add(our_base.private_key, their_signed_prekey));           // DH(EK_A, SPK_B)
  if (their_one_time_prekey != nullptr) {
    BC_TRY(secret.add(our_base.private_key, *their_one_time_prekey));  // DH(EK_A, OPK_B)
  }
  RootStep initial = derive_initial_keys(secret.bytes());
  // The initiator's first DH-ratchet step: Bob's signed prekey is his first ratchet key.
  KeyPair sending_ratchet = KeyPair::generate(rng);
  BC_ASSIGN_OR_RETURN(RootStep sending, root_step(initial.root_key.expose(), their_signed_prekey,
                                                  sending_ratchet.private_key));
  SessionState state;
  state.local_identity = our_identity.public_key();
  state.remote_identity = their_identity;
  state.add_receiver_chain({their_signed_prekey, std::move(initial.chain_key), {}});
  state.sender = SenderChain{std::move(sending_ratchet), std::move(sending.chain_key)};
  state.root_key = std::move(sending.root_key);
  return state;
}

Result<SessionState> initialize_bob(const IdentityKeyPair& our_identity,
                                    const KeyPair& our_signed_prekey,
                                    const KeyPair* our_one_time_prekey,
                                    const IdentityKey& their_identity,
                                    const PublicKey& their_base_key) {
  MasterSecret secret(our_one_time_prekey != nullptr);
  BC_TRY(secret.add(our_signed_prekey.private_key, their_identity.key));  // DH(SPK_B, IK_A)
  BC_TRY(secret.add(our_identity.pair.private_key, their_base_key));      // DH(IK_B, EK_A)
  BC_TRY(secret.add(our_signed_prekey.private_key, their_base_key));      // DH(SPK_B, EK_A)
  if (our_one_time_prekey != nullptr) {
    BC_TRY(secret.add(our_one_time_prekey->private_key, their_base_key));  // DH(OPK_B, EK_A)
  }
  RootStep initial = derive_initial_keys(secret.bytes());
  SessionState state;
  state.local_identity = our_identity.public_key();
  state.remote_identity = their_identity;
  state.sender = SenderChain{our_signed_prekey.copy(), std::move(initial.chain_key)};
  state.root_key = std::move(initial.root_key);
  return state;
}

// compute_mac is the first 8 bytes of HMAC-SHA256(mac_key, sender identity (33) ||
// receiver identity (33) || version || protobuf).
wire::Mac compute_mac(ByteView mac_key, const IdentityKey& sender, const IdentityKey& receiver,
                      ByteView authenticated) {
  std::array<std::uint8_t, 2 * kSerializedPublicKeySize> identities{};
  const auto s = sender.serialize();
  const auto r = receiver.serialize();
  std::copy(s.begin(), s.end(), identities.begin());
  std::copy(r.begin(), r.end(), identities.begin() + kSerializedPublicKeySize);
  const crypto::HmacSha256 hmac(mac_key);
  auto full = hmac.mac2(identities, authenticated);
  wire::Mac out{};
  std::copy(full.begin(), full.begin() + wire::kMacSize, out.begin());
  return out;
}

// DecryptPlan is everything a successful decryption changes in a state, computed without
// touching it; apply_plan commits it (and cannot fail).
struct DecryptPlan {
  // A DH-ratchet step, when the message carries a new ratchet key.
  bool ratchet_step = false;
  SecretBytes new_root_key;
  ChainKey new_receiver_chain;  // index 0
  std::optional<SenderChain> new_sender;
  std::uint32_t new_previous_counter = 0;
  // Progress on the message's receiving chain.
  std::optional<std::uint32_t> consumed_skipped;
  std::vector<SkippedKey> new_skipped;
  ChainKey next_chain_key;
  Bytes plaintext;
};

Result<DecryptPlan> plan_decrypt(const SessionState& state, const wire::DecodedSignalMessage& msg,
                                 const PublicKey& their_ratchet, Rng& rng) {
  if (!state.sender) return fail(Errc::kAuthFailed, "session has no sending chain");
  DecryptPlan plan;
  const std::uint32_t counter = msg.fields.counter;
  if (counter == std::numeric_limits<std::uint32_t>::max()) {
    return fail(Errc::kLimitExceeded, "message counter out of range");
  }
  const ReceiverChain* chain = state.find_receiver_chain(their_ratchet);
  const ChainKey* chain_key = nullptr;
  SecretBytes receiving_root_key;
  if (chain == nullptr) {
    // DH ratchet, receiving half: RK, CK_r = KDF_RK(RK, DH(our ratchet, their new ratchet)).
    // The sending half (a new key pair of ours) waits until the message has authenticated,
    // so a forged message costs one DH and draws no randomness.
    BC_ASSIGN_OR_RETURN(RootStep receiving, root_step(state.root_key.expose(), their_ratchet,
                                                      state.sender->ratchet_key.private_key));
    plan.ratchet_step = true;
    receiving_root_key = std::move(receiving.root_key);
    plan.new_receiver_chain = std::move(receiving.chain_key);
    chain_key = &plan.new_receiver_chain;
  } else {
    chain_key = &chain->chain_key;
  }

  SecretBytes seed;
  if (chain_key->index > counter) {
    // A late message: its key must have been stored when it was skipped.
    const auto it = std::find_if(chain->skipped.begin(), chain->skipped.end(),
                                 [&](const SkippedKey& k) { return k.counter == counter; });
    if (it == chain->skipped.end()) return fail(Errc::kDuplicate, "message already received");
    seed = it->seed.copy();
    plan.consumed_skipped = counter;
  } else {
    if (counter - chain_key->index > kMaxForwardJump) {
      return fail(Errc::kLimitExceeded, "message too far ahead on its chain");
    }
    ChainKey current = chain_key->copy();
    plan.new_skipped.reserve(counter - current.index);
    while (current.index < counter) {
      ChainStep step = chain_step(current);
      plan.new_skipped.push_back({current.index, std::move(step.message_key_seed)});
      current = std::move(step.next);
    }
    ChainStep step = chain_step(current);
    seed = std::move(step.message_key_seed);
    plan.next_chain_key = std::move(step.next);
  }

  const MessageKeys keys = MessageKeys::derive(seed.expose());
  const wire::Mac expected =
      compute_mac(keys.mac_key(), state.remote_identity, state.local_identity, msg.authenticated);
  if (!ct_equal(expected, msg.mac)) return fail(Errc::kAuthFailed, "bad message MAC");
  auto plaintext = crypto::aes256_cbc_decrypt(keys.cipher_key(), keys.iv(), msg.fields.ciphertext);
  if (!plaintext) return fail(Errc::kAuthFailed, "message decryption failed");
  plan.plaintext = std::move(plaintext).value();
  if (plan.ratchet_step) {
    // DH ratchet, sending half: a new ratchet key pair and RK, CK_s = KDF_RK(RK, DH(new, theirs)).
    KeyPair our_new = KeyPair::generate(rng);
    BC_ASSIGN_OR_RETURN(RootStep sending,
                        root_step(receiving_root_key.expose(), their_ratchet, our_new.private_key));
    plan.new_root_key = std::move(sending.root_key);
    const std::uint32_t sent = state.sender->chain_key.index;
    plan.new_previous_counter = sent == 0 ? 0 : sent - 1;  // PN, as libsignal records it
    plan.new_sender = SenderChain{std::move(our_new), std::move(sending.chain_key)};
  }
  return plan;
}

void apply_plan(SessionState& state, DecryptPlan& plan, const PublicKey& their_ratchet) {
  if (plan.ratchet_step) {
    state.root_key = std::move(plan.new_root_key);
    state.add_receiver_chain({their_ratchet, std::move(plan.new_receiver_chain), {}});
    state.previous_counter = plan.new_previous_counter;
    state.sender = std::move(plan.new_sender);
  }
  ReceiverChain* chain = state.find_receiver_chain(their_ratchet);
  BC_CHECK(chain != nullptr);
  if (plan.consumed_skipped) {
    const auto it =
        std::find_if(chain->skipped.begin(), chain->skipped.end(),
                     [&](const SkippedKey& k) { return k.counter == *plan.consumed_skipped; });
    BC_CHECK(it != chain->skipped.end());
    chain->skipped.erase(it);
  } else {
    for (auto& k : plan.new_skipped) chain->skipped.push_back(std::move(k));
    chain->chain_key = std::move(plan.next_chain_key);
    if (!plan.new_skipped.empty()) state.enforce_skipped_key_cap();
  }
  state.pending_prekey.reset();
}

Result<Bytes> decrypt_with_record(SessionRecord& record, const wire::DecodedSignalMessage& msg,
                                  const PublicKey& their_ratchet, Rng& rng) {
  if (!record.has_current_state() && record.previous_states().empty()) {
    return fail(Errc::kNotFound, "no session with this peer");
  }
  std::optional<Error> first_error;
  if (SessionState* current = record.current_state()) {
    auto plan = plan_decrypt(*current, msg, their_ratchet, rng);
    if (plan) {
      apply_plan(*current, *plan, their_ratchet);
      return std::move(plan->plaintext);
    }
    if (plan.error().code == Errc::kDuplicate) return fail(std::move(plan).error());
    first_error = std::move(plan).error();
  }
  auto& previous = record.previous_states();
  for (std::size_t i = 0; i < previous.size(); ++i) {
    auto plan = plan_decrypt(previous[i], msg, their_ratchet, rng);
    if (plan) {
      apply_plan(previous[i], *plan, their_ratchet);
      Bytes plaintext = std::move(plan->plaintext);
      record.promote_previous_state(i);
      return plaintext;
    }
    if (plan.error().code == Errc::kDuplicate) return fail(std::move(plan).error());
    if (!first_error) first_error = std::move(plan).error();
  }
  return fail(std::move(*first_error));
}

}  // namespace

Result<void> process_prekey_bundle(SessionRecord& record, const IdentityKeyPair& our_identity,
                                   std::uint32_t our_registration_id, const PreKeyBundle& bundle,
                                   Rng& rng) {
  BC_TRY(verify_signed_prekey(bundle.identity_key, bundle.signed_prekey,
                              bundle.signed_prekey_signature));
  if (bundle.prekey_id.has_value() != bundle.prekey.has_value()) {
    return fail(Errc::kMalformed, "bundle has a prekey id without a prekey or the reverse");
  }
  const KeyPair base = KeyPair::generate(rng);
  BC_ASSIGN_OR_RETURN(
      SessionState state,
      initialize_alice(our_identity, base, bundle.identity_key, bundle.signed_prekey,
                       bundle.prekey ? &*bundle.prekey : nullptr, rng));
  state.local_registration_id = our_registration_id;
  state.remote_registration_id = bundle.registration_id;
  state.alice_base_key = base.public_key;
  state.pending_prekey = PendingPreKey{bundle.prekey_id, bundle.signed_prekey_id, base.public_key};
  record.set_current_state(std::move(state));
  return ok();
}

Result<CiphertextMessage> encrypt(SessionRecord& record, ByteView plaintext) {
  SessionState* state = record.current_state();
  if (state == nullptr || !state->sender) return fail(Errc::kNotFound, "no session with this peer");
  if (plaintext.size() > wire::kMaxCiphertextSize - crypto::kAesCbcIvSize) {
    return fail(Errc::kLimitExceeded, "plaintext too large");
  }
  ChainKey& chain = state->sender->chain_key;
  if (chain.index == std::numeric_limits<std::uint32_t>::max()) {
    return fail(Errc::kLimitExceeded, "sending chain exhausted");
  }
  ChainStep step = chain_step(chain);
  const MessageKeys keys = MessageKeys::derive(step.message_key_seed.expose());
  BC_ASSIGN_OR_RETURN(const Bytes ciphertext,
                      crypto::aes256_cbc_encrypt(keys.cipher_key(), keys.iv(), plaintext));

  wire::SignalMessageFields fields;
  fields.version = wire::kVersionByte;
  fields.ratchet_key = state->sender->ratchet_key.public_key.serialize();
  fields.counter = chain.index;
  fields.previous_counter = state->previous_counter;
  fields.ciphertext = ciphertext;
  Bytes signal;
  wire::encode_signal_message_body(fields, signal);
  const wire::Mac mac =
      compute_mac(keys.mac_key(), state->local_identity, state->remote_identity, signal);
  append(signal, mac);

  CiphertextMessage out;
  if (state->pending_prekey) {
    wire::PreKeySignalMessageFields outer;
    outer.version = wire::kVersionByte;
    outer.prekey_id = state->pending_prekey->prekey_id;
    outer.base_key = state->pending_prekey->base_key.serialize();
    outer.identity_key = state->local_identity.serialize();
    outer.message = signal;
    outer.registration_id = state->local_registration_id;
    outer.signed_prekey_id = state->pending_prekey->signed_prekey_id;
    out.type = MessageType::kPreKey;
    wire::encode_prekey_signal_message(outer, out.serialized);
  } else {
    out.type = MessageType::kSignal;
    out.serialized = std::move(signal);
  }
  chain = std::move(step.next);  // commit
  return out;
}

Result<Bytes> decrypt_message(SessionRecord& record, ByteView serialized, Rng& rng) {
  BC_ASSIGN_OR_RETURN(const wire::DecodedSignalMessage msg,
                      wire::decode_signal_message(serialized));
  BC_ASSIGN_OR_RETURN(const PublicKey their_ratchet, PublicKey::decode(msg.fields.ratchet_key));
  return decrypt_with_record(record, msg, their_ratchet, rng);
}

Result<IdentityKey> peek_prekey_message_identity(ByteView serialized) {
  BC_ASSIGN_OR_RETURN(const auto fields, wire::decode_prekey_signal_message(serialized));
  return IdentityKey::decode(fields.identity_key);
}

Result<PreKeyDecryption> decrypt_prekey_message(
    SessionRecord& record, const IdentityKeyPair& our_identity, std::uint32_t our_registration_id,
    const PreKeyLookup& prekeys, ByteView serialized, Rng& rng,
    const std::optional<IdentityKey>& expected_identity) {
  BC_ASSIGN_OR_RETURN(const auto fields, wire::decode_prekey_signal_message(serialized));
  BC_ASSIGN_OR_RETURN(const PublicKey base_key, PublicKey::decode(fields.base_key));
  BC_ASSIGN_OR_RETURN(const IdentityKey identity, IdentityKey::decode(fields.identity_key));
  BC_ASSIGN_OR_RETURN(const wire::DecodedSignalMessage inner,
                      wire::decode_signal_message(fields.message));
  BC_ASSIGN_OR_RETURN(const PublicKey their_ratchet, PublicKey::decode(inner.fields.ratchet_key));
  if (expected_identity && !(*expected_identity == identity)) {
    return fail(Errc::kUntrustedIdentity, "sender identity key differs from the trusted one");
  }
  PreKeyDecryption out;
  out.sender_identity = identity;
  out.sender_registration_id = fields.registration_id;

  if (const SessionState* known = record.find_state_with_base_key(base_key)) {
    // Another message of a session we already set up from this base key. The identity it
    // names must be that session's: the MAC covers the stored one, not the message's.
    if (!(known->remote_identity == identity)) {
      return fail(Errc::kAuthFailed, "identity key does not match the session");
    }
    BC_ASSIGN_OR_RETURN(out.plaintext, decrypt_with_record(record, inner, their_ratchet, rng));
    return out;
  }
  const KeyPair* signed_prekey = prekeys.signed_prekey(fields.signed_prekey_id);
  if (signed_prekey == nullptr) return fail(Errc::kNotFound, "unknown signed prekey id");
  const KeyPair* one_time = nullptr;
  if (fields.prekey_id) {
    one_time = prekeys.one_time_prekey(*fields.prekey_id);
    if (one_time == nullptr) return fail(Errc::kNotFound, "unknown one-time prekey id");
  }
  BC_ASSIGN_OR_RETURN(SessionState state,
                      initialize_bob(our_identity, *signed_prekey, one_time, identity, base_key));
  state.local_registration_id = our_registration_id;
  state.remote_registration_id = fields.registration_id;
  state.alice_base_key = base_key;
  BC_ASSIGN_OR_RETURN(DecryptPlan plan, plan_decrypt(state, inner, their_ratchet, rng));
  apply_plan(state, plan, their_ratchet);
  out.plaintext = std::move(plan.plaintext);
  out.used_prekey_id = fields.prekey_id;
  record.set_current_state(std::move(state));
  return out;
}

}  // namespace bc::protocol
