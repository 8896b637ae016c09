/*
 * Tapline's SRTP receive hot path in C: HMAC-SHA1 authentication and AES-128 counter-mode decryption of one
 * SRTP packet (RFC 3711 §3.3, §4.1.1, §4.2), with the OpenSSL that Node itself is built with (its headers ship
 * in include/node, its symbols are exported by the node binary): the same primitives as node:crypto, without
 * the per-call cost of node:crypto's objects. Everything else (ROC estimation, replay window, MKI, probing the
 * ROC of a stream's first packet, SRTCP) stays in TypeScript: core/media/srtp/context.ts. The TypeScript path
 * is complete on its own; this addon is optional and checked against it by core/media/srtp/native.test.ts.
 * It also holds the HMAC-SHA256 of TFWD datagrams (core/net/tfwd.ts), the forwarded-media receive hot path.
 */
#define NAPI_VERSION 8
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA1_Update on a copied SHA_CTX: HMAC midstates without allocation */
#include <node_api.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define AUTH_KEY_LEN 20
#define ENC_KEY_LEN 16
#define SALT_LEN 14
#define MAX_TAG_LEN 20
#define KS_BLOCKS 64 /* keystream blocks made per AES call: 1 KiB on the stack */

/* One direction's session keys: HMAC inner/outer states after the padded key block, an AES-128-ECB context
 * (counter blocks are encrypted in a batch, no per-packet IV reset) and the session salt. */
typedef struct {
  SHA_CTX inner;
  SHA_CTX outer;
  EVP_CIPHER_CTX *ecb;
  uint8_t salt[SALT_LEN];
} session_keys;

/* An HMAC-SHA256 key (TFWD, the forwarded-media encapsulation): inner/outer states after the padded key block. */
typedef struct {
  SHA256_CTX inner;
  SHA256_CTX outer;
} hmac256_key;

/* Per-environment state (one per worker thread): the output buffer registered by setOutput(). */
typedef struct {
  napi_ref output_ref;
  uint8_t *output;
  size_t output_len;
} instance;

#define CHECK(call)                                                                                                \
  do {                                                                                                             \
    if ((call) != napi_ok) return throw_type(env, "srtp_native: bad argument");                                   \
  } while (0)

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "TAPLINE_ERR_SRTP_NATIVE", msg);
  return NULL;
}

static napi_value throw_range(napi_env env, const char *msg) {
  napi_throw_range_error(env, "TAPLINE_ERR_SRTP_NATIVE", msg);
  return NULL;
}

static void free_keys(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  session_keys *k = data;
  EVP_CIPHER_CTX_free(k->ecb);
  OPENSSL_cleanse(k, sizeof *k);
  free(k);
}

static void free_instance(napi_env env, void *data, void *hint) {
  (void)hint;
  instance *in = data;
  if (in->output_ref != NULL) napi_delete_reference(env, in->output_ref);
  free(in);
}

static int buffer_arg(napi_env env, napi_value v, size_t want, uint8_t **data) {
  void *d;
  size_t len;
  if (napi_get_buffer_info(env, v, &d, &len) != napi_ok || len != want) return 0;
  *data = d;
  return 1;
}

/* createKeys(authKey: 20 bytes, encKey: 16 bytes, salt: 14 bytes) -> external handle */
static napi_value create_keys(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint8_t *auth, *enc, *salt;
  if (argc != 3 || !buffer_arg(env, argv[0], AUTH_KEY_LEN, &auth) || !buffer_arg(env, argv[1], ENC_KEY_LEN, &enc) ||
      !buffer_arg(env, argv[2], SALT_LEN, &salt))
    return throw_type(env, "srtp_native.createKeys(authKey[20], encKey[16], salt[14])");
  session_keys *k = calloc(1, sizeof *k);
  if (k == NULL) return throw_range(env, "srtp_native: out of memory");
  uint8_t pad[64];
  memset(pad, 0x36, sizeof pad);
  for (int i = 0; i < AUTH_KEY_LEN; i++) pad[i] ^= auth[i];
  SHA1_Init(&k->inner);
  SHA1_Update(&k->inner, pad, sizeof pad);
  memset(pad, 0x5c, sizeof pad);
  for (int i = 0; i < AUTH_KEY_LEN; i++) pad[i] ^= auth[i];
  SHA1_Init(&k->outer);
  SHA1_Update(&k->outer, pad, sizeof pad);
  OPENSSL_cleanse(pad, sizeof pad);
  memcpy(k->salt, salt, SALT_LEN);
  k->ecb = EVP_CIPHER_CTX_new();
  if (k->ecb == NULL || EVP_EncryptInit_ex(k->ecb, EVP_aes_128_ecb(), NULL, enc, NULL) != 1 ||
      EVP_CIPHER_CTX_set_padding(k->ecb, 0) != 1) {
    free_keys(env, k, NULL);
    return throw_range(env, "srtp_native: AES-128-ECB is not available from OpenSSL");
  }
  napi_value ext;
  if (napi_create_external(env, k, free_keys, NULL, &ext) != napi_ok) {
    free_keys(env, k, NULL);
    return throw_range(env, "srtp_native: cannot wrap the keys");
  }
  return ext;
}

/* setOutput(buffer): where unprotect() writes plain packets; kept alive by a reference until replaced. */
static napi_value set_output(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  instance *in;
  CHECK(napi_get_instance_data(env, (void **)&in));
  if (in == NULL) return throw_type(env, "srtp_native: not initialised");
  void *d;
  size_t len;
  if (argc != 1 || napi_get_buffer_info(env, argv[0], &d, &len) != napi_ok) return throw_type(env, "srtp_native.setOutput(buffer)");
  if (in->output_ref != NULL) napi_delete_reference(env, in->output_ref);
  in->output_ref = NULL;
  CHECK(napi_create_reference(env, argv[0], 1, &in->output_ref));
  in->output = d;
  in->output_len = len;
  return NULL;
}

static inline int tags_equal(const uint8_t *a, const uint8_t *b, uint32_t n) {
  uint8_t diff = 0; /* constant time over the tag */
  for (uint32_t i = 0; i < n; i++) diff |= (uint8_t)(a[i] ^ b[i]);
  return diff == 0;
}

/*
 * unprotect(keys, packet, authEnd, headerLength, roc, tagLength, outOffset) -> boolean
 * Authenticates packet[0, authEnd) || ROC against the tag in the packet's last tagLength bytes. When it matches,
 * writes the header and the decrypted payload packet[headerLength, authEnd) to output[outOffset...] and returns
 * true; otherwise writes nothing and returns false. The packet index is ROC · 2^16 + SEQ (RFC 3711 §3.3.1).
 */
static napi_value unprotect(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  instance *in;
  session_keys *k;
  void *pv;
  size_t len;
  uint32_t auth_end, hdr, roc, tag_len, off;
  if (argc != 7) return throw_type(env, "srtp_native.unprotect: 7 arguments");
  CHECK(napi_get_instance_data(env, (void **)&in));
  CHECK(napi_get_value_external(env, argv[0], (void **)&k));
  CHECK(napi_get_buffer_info(env, argv[1], &pv, &len));
  CHECK(napi_get_value_uint32(env, argv[2], &auth_end));
  CHECK(napi_get_value_uint32(env, argv[3], &hdr));
  CHECK(napi_get_value_uint32(env, argv[4], &roc));
  CHECK(napi_get_value_uint32(env, argv[5], &tag_len));
  CHECK(napi_get_value_uint32(env, argv[6], &off));
  if (k == NULL || in == NULL || in->output == NULL) return throw_type(env, "srtp_native.unprotect: no keys or no output buffer");
  if (tag_len == 0 || tag_len > MAX_TAG_LEN || (size_t)auth_end + tag_len > len || hdr < 12 || hdr > auth_end ||
      (size_t)off + auth_end > in->output_len)
    return throw_range(env, "srtp_native.unprotect: lengths out of range");

  const uint8_t *p = pv;
  const uint8_t roc_be[4] = {(uint8_t)(roc >> 24), (uint8_t)(roc >> 16), (uint8_t)(roc >> 8), (uint8_t)roc};
  uint8_t digest[SHA_DIGEST_LENGTH];
  SHA_CTX c = k->inner;
  SHA1_Update(&c, p, auth_end);
  SHA1_Update(&c, roc_be, sizeof roc_be);
  SHA1_Final(digest, &c);
  c = k->outer;
  SHA1_Update(&c, digest, sizeof digest);
  SHA1_Final(digest, &c);
  napi_value result;
  if (!tags_equal(digest, p + len - tag_len, tag_len)) {
    CHECK(napi_get_boolean(env, false, &result));
    return result;
  }

  /* IV = (salt · 2^16) XOR (SSRC · 2^64) XOR (index · 2^16); block i's counter is IV + i (low 16 bits). */
  uint8_t iv[14];
  memcpy(iv, k->salt, SALT_LEN);
  for (int i = 0; i < 4; i++) iv[4 + i] ^= p[8 + i];
  for (int i = 0; i < 4; i++) iv[8 + i] ^= roc_be[i];
  iv[12] ^= p[2];
  iv[13] ^= p[3];

  uint8_t *o = in->output + off;
  memcpy(o, p, hdr);
  const uint8_t *src = p + hdr;
  uint8_t *dst = o + hdr;
  size_t remaining = auth_end - hdr;
  uint8_t ctr[16 * KS_BLOCKS], ks[16 * KS_BLOCKS];
  uint32_t block = 0;
  while (remaining > 0) {
    size_t n = remaining < sizeof ks ? remaining : sizeof ks;
    size_t nb = (n + 15) / 16;
    for (size_t b = 0; b < nb; b++, block++) {
      memcpy(ctr + 16 * b, iv, sizeof iv);
      ctr[16 * b + 14] = (uint8_t)(block >> 8);
      ctr[16 * b + 15] = (uint8_t)block;
    }
    int outl;
    if (EVP_EncryptUpdate(k->ecb, ks, &outl, ctr, (int)(nb * 16)) != 1) return throw_range(env, "srtp_native: AES failed");
    for (size_t i = 0; i < n; i++) dst[i] = src[i] ^ ks[i];
    src += n;
    dst += n;
    remaining -= n;
  }
  CHECK(napi_get_boolean(env, true, &result));
  return result;
}

static void free_hmac256(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  OPENSSL_cleanse(data, sizeof(hmac256_key));
  free(data);
}

/* hmac256Key(secret) -> external handle: the midstates of HMAC-SHA256 with this key (RFC 2104). */
static napi_value hmac256_key_new(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *sv;
  size_t slen;
  if (argc != 1 || napi_get_buffer_info(env, argv[0], &sv, &slen) != napi_ok || slen == 0) return throw_type(env, "srtp_native.hmac256Key(secret)");
  uint8_t block[64] = {0};
  if (slen > sizeof block) {
    SHA256(sv, slen, block); /* keys longer than the block are hashed first */
  } else {
    memcpy(block, sv, slen);
  }
  hmac256_key *k = calloc(1, sizeof *k);
  if (k == NULL) return throw_range(env, "srtp_native: out of memory");
  uint8_t pad[64];
  for (int i = 0; i < 64; i++) pad[i] = block[i] ^ 0x36;
  SHA256_Init(&k->inner);
  SHA256_Update(&k->inner, pad, sizeof pad);
  for (int i = 0; i < 64; i++) pad[i] = block[i] ^ 0x5c;
  SHA256_Init(&k->outer);
  SHA256_Update(&k->outer, pad, sizeof pad);
  OPENSSL_cleanse(pad, sizeof pad);
  OPENSSL_cleanse(block, sizeof block);
  napi_value ext;
  if (napi_create_external(env, k, free_hmac256, NULL, &ext) != napi_ok) {
    free_hmac256(env, k, NULL);
    return throw_range(env, "srtp_native: cannot wrap the key");
  }
  return ext;
}

static void hmac256(const hmac256_key *k, const uint8_t *p, size_t n, uint8_t out[SHA256_DIGEST_LENGTH]) {
  SHA256_CTX c = k->inner;
  SHA256_Update(&c, p, n);
  SHA256_Final(out, &c);
  c = k->outer;
  SHA256_Update(&c, out, SHA256_DIGEST_LENGTH);
  SHA256_Final(out, &c);
}

/*
 * hmac256Tag(key, buf, end, tagLength, verify) -> boolean
 * The HMAC-SHA256 of buf[0, end), truncated to tagLength bytes: verify=true compares it in constant time with
 * buf[end, end + tagLength); verify=false writes it there (and returns true).
 */
static napi_value hmac256_tag(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  hmac256_key *k;
  void *pv;
  size_t len;
  uint32_t end, tag_len;
  bool verify;
  if (argc != 5) return throw_type(env, "srtp_native.hmac256Tag: 5 arguments");
  CHECK(napi_get_value_external(env, argv[0], (void **)&k));
  CHECK(napi_get_buffer_info(env, argv[1], &pv, &len));
  CHECK(napi_get_value_uint32(env, argv[2], &end));
  CHECK(napi_get_value_uint32(env, argv[3], &tag_len));
  CHECK(napi_get_value_bool(env, argv[4], &verify));
  if (k == NULL || tag_len == 0 || tag_len > SHA256_DIGEST_LENGTH || (size_t)end + tag_len > len) return throw_range(env, "srtp_native.hmac256Tag: lengths out of range");
  uint8_t digest[SHA256_DIGEST_LENGTH];
  uint8_t *p = pv;
  hmac256(k, p, end, digest);
  napi_value result;
  if (verify) {
    CHECK(napi_get_boolean(env, tags_equal(digest, p + end, tag_len), &result));
  } else {
    memcpy(p + end, digest, tag_len);
    CHECK(napi_get_boolean(env, true, &result));
  }
  return result;
}

NAPI_MODULE_INIT() {
  instance *in = calloc(1, sizeof *in);
  if (in == NULL || napi_set_instance_data(env, in, free_instance, NULL) != napi_ok) return NULL;
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {{"createKeys", create_keys}, {"setOutput", set_output}, {"unprotect", unprotect}, {"hmac256Key", hmac256_key_new}, {"hmac256Tag", hmac256_tag}};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &f) != napi_ok ||
        napi_set_named_property(env, exports, fns[i].name, f) != napi_ok)
      return NULL;
  }
  return exports;
}
