/* escrow_parties.pml: what the honest and the dishonest relay models of the escrow exchange
 * share: the deposits, the certificate, what each party holds and the checks a Backchannel
 * client makes on what the relay gives it (docs/assurances.md). */

/* Parties. A opened the exchange (queue_a is A's queue); B is the counterparty A told about it
 * inside their session. Opening is not modelled: the exchange exists, both know its id and
 * deadline. */
#define A 0
#define B 1
#define OTHER(p) (1 - (p))

/* Deposit contents. Cryptography is perfect, so a deposit is an identity: DA is A's assurance
 * encrypted for B, DB is B's encrypted for A, FORGED is anything else a relay could make (it
 * cannot make a ciphertext that authenticates as A's or B's in their session). A hash is the
 * identity of what it hashes: sha256(x) is modelled as x. */
#define NONE 0
#define DA 1
#define DB 2
#define FORGED 3
#define MINE(p) ((p) + 1)
#define BIT(x) (1 << (x))

/* Certificate flags. The certificate is "backchannel-escrow-release-v1" || exchange_id ||
 * deadline || hash_a || hash_b || release_time, signed with the relay's key. Only the relay
 * holds that key and signatures are perfect, so every certificate in the model comes from the
 * relay process; what a relay can choose is its content:
 *   CERT_THIS - exchange_id and deadline are this exchange's (a party ignores any other);
 *   CERT_LATE - release_time is not before the deadline: such a certificate does not verify
 *               (verify_release_certificate), so a party ignores it too. A relay that releases
 *               late can instead sign an earlier release_time; the model lets it. */
#define CERT_THIS 1
#define CERT_LATE 2

/* What each party has, all set only by the party itself from what it received:
 *   got[p]       - bitmask of the envelopes p received in its queue;
 *   authentic[p] - of those, the ones that authenticate in the pair's session as made by the
 *                  counterparty (only the counterparty's own deposit does);
 *   certified[p] - the hashes valid certificates named as the counterparty's deposit;
 *   cert_bad[p]  - p holds a valid certificate that is wrong on its face: it names as p's
 *                  deposit something p never deposited. */
byte got[2];
byte authentic[2];
byte certified[2];
bool cert_bad[2];
/* deposited[p]: p sent its deposit (p knows it; the relay may have refused or ignored it). */
bool deposited[2];

/* received(p, d): ground truth, p has the envelope d. */
#define received(p, d) ((got[p] & BIT(d)) != 0)
/* certified_any(p): p holds at least one valid certificate for this exchange. */
#define certified_any(p) (cert_bad[p] || certified[p] != 0)
/* proof(p): what p can show against the relay: a valid certificate that is wrong on its face,
 * or one naming a counterparty deposit p did not receive authenticated (received nothing,
 * received something else, or received something that is not the counterparty's). */
#define proof(p) (cert_bad[p] || (certified[p] & ~authentic[p]) != 0)
/* accepts(p): p's own verdict that the exchange was fair: it holds a certificate for the
 * exchange and no proof, so every hash certified as the counterparty's is of an envelope p
 * received authenticated. */
#define accepts(p) (certified[p] != 0 && !proof(p))
/* holds(p): p holds the counterparty's assurance and accepts the exchange. */
#define holds(p) (received(p, MINE(OTHER(p))) && accepts(p))

/* on_deliver(p, x): p receives the envelope x in its queue and checks it in its session with
 * the counterparty; only the counterparty's own deposit authenticates. */
inline on_deliver(p, x) {
  got[p] = got[p] | BIT(x);
#ifdef BROKEN_CHECK
  /* Deliberately wrong (negative check): skips the session's authentication. */
  authentic[p] = authentic[p] | BIT(x)
#else
  if
  :: x == MINE(OTHER(p)) -> authentic[p] = authentic[p] | BIT(x)
  :: else -> skip
  fi
#endif
}

/* on_cert(p, ha, hb, fl): p receives a certificate signed by the relay. One that does not
 * verify (released late) or is for another exchange id or deadline is ignored; one naming as
 * p's deposit anything but what p deposited is wrong on its face; otherwise p records the hash
 * it names as the counterparty's deposit. */
inline on_cert(p, ha, hb, fl) {
  if
  :: fl == CERT_THIS ->
     if
     :: !deposited[p] || (p == A -> ha : hb) != MINE(p) ->
        cert_bad[p] = true
     :: else -> certified[p] = certified[p] | BIT(p == A -> hb : ha)
     fi
  :: else -> skip /* does not verify, or another exchange's: proves nothing about this one */
  fi
}
