/*
 * @tapline/codec-g729: ITU-T G.729 / G.729 Annex A / Annex B decoding (and encoding, for tests) on Debian's
 * libbcg729 (Belledonne Communications' bcg729, GPLv3), as an N-API addon in plain C.
 *
 * Two classes, each owning one bcg729 channel context:
 *   new Decoder()
 *     decode(frame: 10-byte Uint8Array, out?: Int16Array, outOffset?: number) -> Int16Array   (80 samples)
 *     decodeSid(frame: 2-byte Uint8Array, out?, outOffset?) -> Int16Array   (Annex B SID: comfort noise)
 *     conceal(out?, outOffset?) -> Int16Array   (bcg729 frame erasure: concealment, or CNG after a SID)
 *     close()   (idempotent; the garbage collector frees an unclosed decoder)
 *     closed: boolean
 *   new Encoder(vad: boolean)
 *     encode(samples: Int16Array of 80) -> Buffer   (10 bytes voice, 2 bytes SID, 0 bytes: DTX sends nothing)
 *     close(), closed
 * With `out`, the samples are written to out[outOffset .. outOffset + 80) and `out` is returned (no allocation);
 * without it a new Int16Array(80) is returned. Every argument is checked: a TypeError or RangeError names what
 * is wrong; a closed object throws an Error. Nothing here keeps JS values between calls, so each worker thread
 * (each napi_env) can load the addon on its own.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <bcg729/decoder.h>
#include <bcg729/encoder.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRAME_SAMPLES 80 /* 10 ms at 8 kHz */
#define FRAME_BYTES 10   /* 80 bits */
#define SID_BYTES 2      /* Annex B SID frame (15 bits used) */
#define ERR_CODE "TAPLINE_ERR_G729_NATIVE"

typedef struct {
  bcg729DecoderChannelContextStruct *ctx;
} decoder_box;

typedef struct {
  bcg729EncoderChannelContextStruct *ctx;
} encoder_box;

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, ERR_CODE, msg);
  return NULL;
}

static napi_value throw_range(napi_env env, const char *msg) {
  napi_throw_range_error(env, ERR_CODE, msg);
  return NULL;
}

static napi_value throw_plain(napi_env env, const char *msg) {
  napi_throw_error(env, ERR_CODE, msg);
  return NULL;
}

/* A pending exception (from a failed napi call) is left as is; otherwise a TypeError with `msg`. */
static napi_value fail(napi_env env, const char *msg) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return NULL;
  return throw_type(env, msg);
}

static napi_value undefined_value(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static int is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  return t == napi_undefined || t == napi_null;
}

/* A Uint8Array (Buffer included) of exactly `want` bytes. Returns 1, or 0 with an exception thrown. */
static int bytes_arg(napi_env env, napi_value v, size_t want, const char *what, const uint8_t **data) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be a Buffer or Uint8Array of %u bytes", what, (unsigned)want);
    throw_type(env, msg);
    return 0;
  }
  napi_typedarray_type type;
  size_t len;
  void *d;
  if (napi_get_typedarray_info(env, v, &type, &len, &d, NULL, NULL) != napi_ok) {
    fail(env, "cannot read the frame");
    return 0;
  }
  if (type != napi_uint8_array) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be a Buffer or Uint8Array of %u bytes", what, (unsigned)want);
    throw_type(env, msg);
    return 0;
  }
  if (len != want) {
    char msg[200];
    snprintf(msg, sizeof msg, "%s must be exactly %u bytes, got %lu", what, (unsigned)want, (unsigned long)len);
    throw_range(env, msg);
    return 0;
  }
  *data = d;
  return 1;
}

/*
 * The output of a decode: argv[first] (an Int16Array, or undefined/null for a fresh one) and argv[first + 1] (an
 * offset, default 0) -> where to write 80 samples and the value to return. Returns 1, or 0 with an exception.
 */
static int out_arg(napi_env env, size_t argc, napi_value *argv, size_t first, int16_t **dst, napi_value *result) {
  if (argc <= first || is_nullish(env, argv[first])) {
    void *d;
    napi_value ab;
    if (napi_create_arraybuffer(env, FRAME_SAMPLES * sizeof(int16_t), &d, &ab) != napi_ok ||
        napi_create_typedarray(env, napi_int16_array, FRAME_SAMPLES, ab, 0, result) != napi_ok) {
      fail(env, "cannot allocate the output");
      return 0;
    }
    memset(d, 0, FRAME_SAMPLES * sizeof(int16_t));
    *dst = d;
    return 1;
  }
  bool is_ta = false;
  napi_typedarray_type type;
  size_t len;
  void *d;
  if (napi_is_typedarray(env, argv[first], &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, argv[first], &type, &len, &d, NULL, NULL) != napi_ok || type != napi_int16_array) {
    fail(env, "out must be an Int16Array (or undefined for a new one)");
    return 0;
  }
  uint32_t off = 0;
  if (argc > first + 1 && !is_nullish(env, argv[first + 1])) {
    napi_valuetype t;
    double dv;
    if (napi_typeof(env, argv[first + 1], &t) != napi_ok || t != napi_number) {
      fail(env, "outOffset must be a number");
      return 0;
    }
    napi_get_value_double(env, argv[first + 1], &dv);
    if (!(dv >= 0) || dv != (double)(uint32_t)dv) {
      throw_range(env, "outOffset must be a non-negative integer");
      return 0;
    }
    off = (uint32_t)dv;
  }
  if ((size_t)off + FRAME_SAMPLES > len) {
    char msg[200];
    snprintf(msg, sizeof msg, "out has no room for 80 samples at offset %u (length %lu)", off, (unsigned long)len);
    throw_range(env, msg);
    return 0;
  }
  *dst = (int16_t *)d + off;
  *result = argv[first];
  return 1;
}

/* ------------------------------------------------------------------------------------------------ Decoder */

static void decoder_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  decoder_box *b = data;
  if (b->ctx != NULL) closeBcg729DecoderChannel(b->ctx);
  free(b);
}

static napi_value decoder_new(napi_env env, napi_callback_info info) {
  napi_value self, target;
  if (napi_get_new_target(env, info, &target) != napi_ok) return fail(env, "Decoder: bad call");
  if (target == NULL) return throw_type(env, "Decoder is a class: use new Decoder()");
  size_t argc = 0;
  if (napi_get_cb_info(env, info, &argc, NULL, &self, NULL) != napi_ok) return fail(env, "Decoder: bad call");
  decoder_box *b = calloc(1, sizeof *b);
  if (b == NULL) return throw_plain(env, "G.729 decoder: out of memory");
  b->ctx = initBcg729DecoderChannel();
  if (b->ctx == NULL) {
    free(b);
    return throw_plain(env, "G.729 decoder: bcg729 could not create a decoder channel");
  }
  if (napi_wrap(env, self, b, decoder_finalize, NULL, NULL) != napi_ok) {
    decoder_finalize(env, b, NULL);
    return fail(env, "Decoder: cannot wrap the native state");
  }
  return self;
}

/* The decoder `this` refers to (open), with up to 2 arguments; 0 with an exception thrown otherwise. */
static int decoder_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, decoder_box **out) {
  napi_value self;
  void *p = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) {
    fail(env, "G.729 decoder: bad call");
    return 0;
  }
  if (napi_unwrap(env, self, &p) != napi_ok || p == NULL) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    throw_type(env, "not a G.729 Decoder (method called on another object)");
    return 0;
  }
  decoder_box *b = p;
  if (b->ctx == NULL) {
    throw_plain(env, "G.729 decoder is closed");
    return 0;
  }
  *out = b;
  return 1;
}

/* decode(frame[10], out?, outOffset?): one speech frame. */
static napi_value decoder_decode(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  decoder_box *b;
  if (!decoder_this(env, info, &argc, argv, &b)) return NULL;
  if (argc < 1) return throw_type(env, "decode(frame): frame (10 bytes) is missing");
  const uint8_t *frame;
  int16_t *dst;
  napi_value result;
  if (!bytes_arg(env, argv[0], FRAME_BYTES, "G.729 frame", &frame)) return NULL;
  if (!out_arg(env, argc, argv, 1, &dst, &result)) return NULL;
  uint8_t copy[FRAME_BYTES];
  memcpy(copy, frame, FRAME_BYTES); /* the frame may share memory with out: read it first */
  bcg729Decoder(b->ctx, copy, FRAME_BYTES, 0, 0, 0, dst);
  return result;
}

/* decodeSid(frame[2], out?, outOffset?): an Annex B SID frame, decoded to comfort noise. */
static napi_value decoder_decode_sid(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  decoder_box *b;
  if (!decoder_this(env, info, &argc, argv, &b)) return NULL;
  if (argc < 1) return throw_type(env, "decodeSid(frame): frame (2 bytes) is missing");
  const uint8_t *frame;
  int16_t *dst;
  napi_value result;
  if (!bytes_arg(env, argv[0], SID_BYTES, "G.729 SID frame", &frame)) return NULL;
  if (!out_arg(env, argc, argv, 1, &dst, &result)) return NULL;
  uint8_t copy[SID_BYTES];
  memcpy(copy, frame, SID_BYTES);
  bcg729Decoder(b->ctx, copy, SID_BYTES, 0, 1, 0, dst);
  return result;
}

/* conceal(out?, outOffset?): a lost (erased) frame: concealment after speech, comfort noise after a SID. */
static napi_value decoder_conceal(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  decoder_box *b;
  if (!decoder_this(env, info, &argc, argv, &b)) return NULL;
  int16_t *dst;
  napi_value result;
  if (!out_arg(env, argc, argv, 0, &dst, &result)) return NULL;
  bcg729Decoder(b->ctx, NULL, 0, 1, 0, 0, dst);
  return result;
}

static napi_value decoder_close(napi_env env, napi_callback_info info) {
  napi_value self;
  void *p = NULL;
  size_t argc = 0;
  if (napi_get_cb_info(env, info, &argc, NULL, &self, NULL) != napi_ok) return fail(env, "G.729 decoder: bad call");
  if (napi_unwrap(env, self, &p) != napi_ok || p == NULL) return fail(env, "not a G.729 Decoder (method called on another object)");
  decoder_box *b = p;
  if (b->ctx != NULL) {
    closeBcg729DecoderChannel(b->ctx);
    b->ctx = NULL;
  }
  return undefined_value(env);
}

static napi_value decoder_closed(napi_env env, napi_callback_info info) {
  napi_value self, r;
  void *p = NULL;
  size_t argc = 0;
  if (napi_get_cb_info(env, info, &argc, NULL, &self, NULL) != napi_ok) return fail(env, "G.729 decoder: bad call");
  if (napi_unwrap(env, self, &p) != napi_ok || p == NULL) return fail(env, "not a G.729 Decoder");
  napi_get_boolean(env, ((decoder_box *)p)->ctx == NULL, &r);
  return r;
}

/* ------------------------------------------------------------------------------------------------ Encoder */

static void encoder_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  encoder_box *b = data;
  if (b->ctx != NULL) closeBcg729EncoderChannel(b->ctx);
  free(b);
}

/* new Encoder(vad: boolean): vad enables Annex B (VAD/DTX: SID frames and untransmitted frames). */
static napi_value encoder_new(napi_env env, napi_callback_info info) {
  napi_value self, target;
  if (napi_get_new_target(env, info, &target) != napi_ok) return fail(env, "Encoder: bad call");
  if (target == NULL) return throw_type(env, "Encoder is a class: use new Encoder(vad)");
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok) return fail(env, "Encoder: bad call");
  bool vad = false;
  if (argc >= 1 && !is_nullish(env, argv[0])) {
    napi_valuetype t;
    if (napi_typeof(env, argv[0], &t) != napi_ok || t != napi_boolean) return throw_type(env, "new Encoder(vad): vad must be a boolean");
    napi_get_value_bool(env, argv[0], &vad);
  }
  encoder_box *b = calloc(1, sizeof *b);
  if (b == NULL) return throw_plain(env, "G.729 encoder: out of memory");
  b->ctx = initBcg729EncoderChannel(vad ? 1 : 0);
  if (b->ctx == NULL) {
    free(b);
    return throw_plain(env, "G.729 encoder: bcg729 could not create an encoder channel");
  }
  if (napi_wrap(env, self, b, encoder_finalize, NULL, NULL) != napi_ok) {
    encoder_finalize(env, b, NULL);
    return fail(env, "Encoder: cannot wrap the native state");
  }
  return self;
}

/* encode(samples: Int16Array(80)) -> Buffer of 10 (speech), 2 (SID) or 0 (not transmitted) bytes. */
static napi_value encoder_encode(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self;
  void *p = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok) return fail(env, "G.729 encoder: bad call");
  if (napi_unwrap(env, self, &p) != napi_ok || p == NULL) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    return throw_type(env, "not a G.729 Encoder (method called on another object)");
  }
  encoder_box *b = p;
  if (b->ctx == NULL) return throw_plain(env, "G.729 encoder is closed");
  if (argc < 1) return throw_type(env, "encode(samples): samples (Int16Array of 80) is missing");
  bool is_ta = false;
  napi_typedarray_type type;
  size_t len;
  void *d;
  if (napi_is_typedarray(env, argv[0], &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, argv[0], &type, &len, &d, NULL, NULL) != napi_ok || type != napi_int16_array)
    return fail(env, "encode(samples): samples must be an Int16Array of 80 samples (10 ms at 8 kHz)");
  if (len != FRAME_SAMPLES) {
    char msg[160];
    snprintf(msg, sizeof msg, "encode(samples): samples must be exactly 80 (10 ms at 8 kHz), got %lu", (unsigned long)len);
    return throw_range(env, msg);
  }
  int16_t in[FRAME_SAMPLES];
  memcpy(in, d, sizeof in);
  uint8_t bits[FRAME_BYTES];
  uint8_t n = 0;
  bcg729Encoder(b->ctx, in, bits, &n);
  if (n != 0 && n != SID_BYTES && n != FRAME_BYTES) return throw_plain(env, "G.729 encoder: bcg729 returned an unexpected frame length");
  napi_value out;
  void *od;
  if (napi_create_buffer_copy(env, n, bits, &od, &out) != napi_ok) return fail(env, "cannot allocate the frame");
  return out;
}

static napi_value encoder_close(napi_env env, napi_callback_info info) {
  napi_value self;
  void *p = NULL;
  size_t argc = 0;
  if (napi_get_cb_info(env, info, &argc, NULL, &self, NULL) != napi_ok) return fail(env, "G.729 encoder: bad call");
  if (napi_unwrap(env, self, &p) != napi_ok || p == NULL) return fail(env, "not a G.729 Encoder (method called on another object)");
  encoder_box *b = p;
  if (b->ctx != NULL) {
    closeBcg729EncoderChannel(b->ctx);
    b->ctx = NULL;
  }
  return undefined_value(env);
}

static napi_value encoder_closed(napi_env env, napi_callback_info info) {
  napi_value self, r;
  void *p = NULL;
  size_t argc = 0;
  if (napi_get_cb_info(env, info, &argc, NULL, &self, NULL) != napi_ok) return fail(env, "G.729 encoder: bad call");
  if (napi_unwrap(env, self, &p) != napi_ok || p == NULL) return fail(env, "not a G.729 Encoder");
  napi_get_boolean(env, ((encoder_box *)p)->ctx == NULL, &r);
  return r;
}

/* ------------------------------------------------------------------------------------------------ module */

NAPI_MODULE_INIT() {
  napi_property_descriptor dec_props[] = {
      {"decode", NULL, decoder_decode, NULL, NULL, NULL, napi_default_method, NULL},
      {"decodeSid", NULL, decoder_decode_sid, NULL, NULL, NULL, napi_default_method, NULL},
      {"conceal", NULL, decoder_conceal, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, decoder_close, NULL, NULL, NULL, napi_default_method, NULL},
      {"closed", NULL, NULL, decoder_closed, NULL, NULL, napi_default_jsproperty, NULL},
  };
  napi_property_descriptor enc_props[] = {
      {"encode", NULL, encoder_encode, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, encoder_close, NULL, NULL, NULL, napi_default_method, NULL},
      {"closed", NULL, NULL, encoder_closed, NULL, NULL, napi_default_jsproperty, NULL},
  };
  napi_value dec_class, enc_class, version, frame_samples;
  if (napi_define_class(env, "Decoder", NAPI_AUTO_LENGTH, decoder_new, NULL, sizeof dec_props / sizeof dec_props[0], dec_props, &dec_class) != napi_ok ||
      napi_define_class(env, "Encoder", NAPI_AUTO_LENGTH, encoder_new, NULL, sizeof enc_props / sizeof enc_props[0], enc_props, &enc_class) != napi_ok ||
      napi_set_named_property(env, exports, "Decoder", dec_class) != napi_ok ||
      napi_set_named_property(env, exports, "Encoder", enc_class) != napi_ok)
    return NULL;
#ifdef BCG729_VERSION_NUMBER
  char v[32];
  snprintf(v, sizeof v, "%d.%d.%d", (BCG729_VERSION_NUMBER >> 16) & 0xff, (BCG729_VERSION_NUMBER >> 8) & 0xff, BCG729_VERSION_NUMBER & 0xff);
  if (napi_create_string_utf8(env, v, NAPI_AUTO_LENGTH, &version) != napi_ok) return NULL;
#else
  if (napi_create_string_utf8(env, "unknown", NAPI_AUTO_LENGTH, &version) != napi_ok) return NULL;
#endif
  if (napi_set_named_property(env, exports, "bcg729Version", version) != napi_ok) return NULL;
  if (napi_create_uint32(env, FRAME_SAMPLES, &frame_samples) != napi_ok || napi_set_named_property(env, exports, "frameSamples", frame_samples) != napi_ok)
    return NULL;
  return exports;
}
