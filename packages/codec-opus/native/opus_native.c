/*
 * @tapline/codec-opus: N-API binding of the system libopus (Debian's libopus0, headers from libopus-dev).
 *
 * What it exposes, and nothing more:
 *   Decoder(sampleRate, channels)   decode(packet, out) -> samples per channel
 *                                   decodeFec(nextPacket, frameSize, out) -> the LOST packet's audio, from the
 *                                     in-band FEC (LBRR) data of the packet after it (libopus conceals what it
 *                                     cannot recover: frameSize minus one frame of nextPacket, or all of it when
 *                                     nextPacket carries no FEC)
 *                                   conceal(frameSize, out) -> packet loss concealment (opus_decode with NULL)
 *                                   reset(), close() (idempotent), closed
 *   Encoder(sampleRate, channels, application)   for tests and benches: encode(pcm, frameSize) -> Buffer,
 *                                   setBitrate, setInbandFec, setPacketLossPerc, setDtx, setComplexity, close()
 *   packetSamples(packet, sampleRate), packetInfo(packet), version
 *
 * Arguments are checked before libopus sees them: a wrong type is a TypeError, a value out of range a RangeError,
 * and an error libopus returns (a corrupt packet...) an Error whose message is opus_strerror()'s text and whose
 * `code` is the libopus constant's name ('OPUS_INVALID_PACKET'). Nothing a caller passes can crash the process.
 * Native state is freed by close() or, failing that, by the wrapper object's finalizer. No global state: the
 * module can be loaded in several worker threads.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <opus/opus.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest encoded packet the encoder may produce (RFC 6716 §3.2.1 allows 1275 bytes per frame; 4000 is the
 * libopus documentation's recommended buffer). */
#define MAX_PACKET 4000

static const napi_type_tag DECODER_TAG = {0x7461706c696e6564ULL, 0x6f7075732d646563ULL};
static const napi_type_tag ENCODER_TAG = {0x7461706c696e6565ULL, 0x6f7075732d656e63ULL};

typedef struct {
  OpusDecoder *dec;
  int32_t rate;
  int32_t channels;
  /* Bytes reported to V8 with napi_adjust_external_memory (so the GC knows what an unreachable decoder holds). */
  int64_t reported;
} decoder_state;

typedef struct {
  OpusEncoder *enc;
  int32_t rate;
  int32_t channels;
  int64_t reported;
} encoder_state;

/* Tells V8 about native memory held (size > 0) or released (size < 0). */
static void report_memory(napi_env env, int64_t *reported, int64_t size) {
  int64_t total;
  if (size == 0 || napi_adjust_external_memory(env, size, &total) != napi_ok) return;
  *reported += size;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Errors */

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

static napi_value throw_range(napi_env env, const char *msg) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
  return NULL;
}

static const char *opus_code_name(int err) {
  switch (err) {
    case OPUS_BAD_ARG: return "OPUS_BAD_ARG";
    case OPUS_BUFFER_TOO_SMALL: return "OPUS_BUFFER_TOO_SMALL";
    case OPUS_INTERNAL_ERROR: return "OPUS_INTERNAL_ERROR";
    case OPUS_INVALID_PACKET: return "OPUS_INVALID_PACKET";
    case OPUS_UNIMPLEMENTED: return "OPUS_UNIMPLEMENTED";
    case OPUS_INVALID_STATE: return "OPUS_INVALID_STATE";
    case OPUS_ALLOC_FAIL: return "OPUS_ALLOC_FAIL";
    default: return "OPUS_ERROR";
  }
}

/* An Error for a libopus error code: "<what>: <opus_strerror text>", code = the constant's name. */
static napi_value throw_opus(napi_env env, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s (libopus error %d)", what, opus_strerror(err), err);
  napi_throw_error(env, opus_code_name(err), msg);
  return NULL;
}

#define CHECK(call)                                                                                                \
  do {                                                                                                             \
    if ((call) != napi_ok) return throw_type(env, "opus_native: bad argument");                                   \
  } while (0)

/* ---------------------------------------------------------------------------------------------------------- */
/* Argument helpers: each returns 1 when the argument is acceptable, else throws and returns 0. */

static int arg_u8(napi_env env, napi_value v, const uint8_t **data, size_t *len, const char *usage) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) {
    throw_type(env, usage);
    return 0;
  }
  napi_typedarray_type type;
  size_t length;
  void *d;
  if (napi_get_typedarray_info(env, v, &type, &length, &d, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    throw_type(env, usage);
    return 0;
  }
  if (length > INT32_MAX) {
    throw_range(env, "opus_native: packet too large");
    return 0;
  }
  *data = d;
  *len = length;
  return 1;
}

static int arg_i16(napi_env env, napi_value v, int16_t **data, size_t *len, const char *usage) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) {
    throw_type(env, usage);
    return 0;
  }
  napi_typedarray_type type;
  size_t length;
  void *d;
  if (napi_get_typedarray_info(env, v, &type, &length, &d, NULL, NULL) != napi_ok || type != napi_int16_array) {
    throw_type(env, usage);
    return 0;
  }
  *data = d;
  *len = length;
  return 1;
}

/* An integer-valued JS number in [lo, hi]. */
static int arg_int(napi_env env, napi_value v, int64_t lo, int64_t hi, int64_t *out, const char *usage) {
  napi_valuetype t;
  double d;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number || napi_get_value_double(env, v, &d) != napi_ok) {
    throw_type(env, usage);
    return 0;
  }
  if (!(d >= (double)lo && d <= (double)hi) || d != (double)(int64_t)d) {
    throw_range(env, usage);
    return 0;
  }
  *out = (int64_t)d;
  return 1;
}

static int arg_bool(napi_env env, napi_value v, bool *out, const char *usage) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_boolean || napi_get_value_bool(env, v, out) != napi_ok) {
    throw_type(env, usage);
    return 0;
  }
  return 1;
}

static int valid_rate(int64_t r) { return r == 8000 || r == 12000 || r == 16000 || r == 24000 || r == 48000; }

/* `this` of a method call, checked to be one of our objects of the given kind. */
static void *unwrap_this(napi_env env, napi_callback_info info, const napi_type_tag *tag, size_t *argc, napi_value *argv,
                         const char *what) {
  napi_value self;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) {
    throw_type(env, what);
    return NULL;
  }
  bool ok = false;
  void *p = NULL;
  if (napi_check_object_type_tag(env, self, tag, &ok) != napi_ok || !ok || napi_unwrap(env, self, &p) != napi_ok || p == NULL) {
    throw_type(env, what);
    return NULL;
  }
  return p;
}

static napi_value make_int(napi_env env, int32_t v) {
  napi_value r;
  if (napi_create_int32(env, v, &r) != napi_ok) return NULL;
  return r;
}

static napi_value make_bool(napi_env env, bool v) {
  napi_value r;
  if (napi_get_boolean(env, v, &r) != napi_ok) return NULL;
  return r;
}

static int require_new(napi_env env, napi_callback_info info, const char *usage) {
  napi_value nt;
  if (napi_get_new_target(env, info, &nt) != napi_ok || nt == NULL) {
    throw_type(env, usage);
    return 0;
  }
  return 1;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Decoder */

static void decoder_free(napi_env env, void *data, void *hint) {
  (void)hint;
  decoder_state *s = data;
  if (s->dec != NULL) opus_decoder_destroy(s->dec);
  report_memory(env, &s->reported, -s->reported);
  free(s);
}

static napi_value decoder_new(napi_env env, napi_callback_info info) {
  static const char *usage = "new Decoder(sampleRate: 8000|12000|16000|24000|48000, channels: 1|2)";
  if (!require_new(env, info, usage)) return NULL;
  size_t argc = 2;
  napi_value argv[2], self;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  int64_t rate, channels;
  if (argc != 2) return throw_type(env, usage);
  if (!arg_int(env, argv[0], 0, 48000, &rate, usage) || !arg_int(env, argv[1], 1, 2, &channels, usage)) return NULL;
  if (!valid_rate(rate)) return throw_range(env, usage);
  decoder_state *s = calloc(1, sizeof *s);
  if (s == NULL) return throw_opus(env, "opus_decoder_create", OPUS_ALLOC_FAIL);
  int err = OPUS_OK;
  s->dec = opus_decoder_create((opus_int32)rate, (int)channels, &err);
  if (err != OPUS_OK || s->dec == NULL) {
    free(s);
    return throw_opus(env, "opus_decoder_create", err != OPUS_OK ? err : OPUS_ALLOC_FAIL);
  }
  s->rate = (int32_t)rate;
  s->channels = (int32_t)channels;
  if (napi_wrap(env, self, s, decoder_free, NULL, NULL) != napi_ok) {
    decoder_free(env, s, NULL);
    return throw_type(env, "opus_native: cannot wrap the decoder");
  }
  report_memory(env, &s->reported, opus_decoder_get_size((int)channels));
  CHECK(napi_type_tag_object(env, self, &DECODER_TAG));
  return self;
}

static decoder_state *open_decoder(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, const char *usage) {
  decoder_state *s = unwrap_this(env, info, &DECODER_TAG, argc, argv, usage);
  if (s == NULL) return NULL;
  if (s->dec == NULL) {
    napi_throw_error(env, "ERR_OPUS_CLOSED", "the Opus decoder is closed");
    return NULL;
  }
  return s;
}

/* decode(packet: Uint8Array (1+ bytes), out: Int16Array) -> samples per channel written to out */
static napi_value decoder_decode(napi_env env, napi_callback_info info) {
  static const char *usage = "Decoder.decode(packet: Uint8Array, out: Int16Array)";
  size_t argc = 2;
  napi_value argv[2];
  decoder_state *s = open_decoder(env, info, &argc, argv, usage);
  if (s == NULL) return NULL;
  if (argc != 2) return throw_type(env, usage);
  const uint8_t *pkt;
  size_t len, outlen;
  int16_t *out;
  if (!arg_u8(env, argv[0], &pkt, &len, usage) || !arg_i16(env, argv[1], &out, &outlen, usage)) return NULL;
  if (len == 0) return throw_range(env, "Decoder.decode: an empty packet is not an Opus packet (conceal() stands in for a lost one)");
  size_t cap = outlen / (size_t)s->channels;
  if (cap == 0) return throw_range(env, "Decoder.decode: the output array has no room");
  if (cap > (size_t)s->rate) cap = (size_t)s->rate;
  int n = opus_decode(s->dec, pkt, (opus_int32)len, out, (int)cap, 0);
  if (n < 0) return throw_opus(env, "opus_decode", n);
  return make_int(env, n);
}

/* Checks frameSize (a multiple of 2.5 ms, fitting `out`) for decodeFec() and conceal(). */
static int frame_arg(napi_env env, decoder_state *s, napi_value v, size_t outlen, int *frame, const char *usage) {
  int64_t f;
  if (!arg_int(env, v, 1, s->rate, &f, usage)) return 0;
  if (f % (s->rate / 400) != 0) {
    throw_range(env, "opus_native: frameSize must be a multiple of 2.5 ms (sampleRate / 400 samples)");
    return 0;
  }
  if ((size_t)f * (size_t)s->channels > outlen) {
    throw_range(env, "opus_native: frameSize × channels exceeds the output array");
    return 0;
  }
  *frame = (int)f;
  return 1;
}

/* decodeFec(nextPacket: Uint8Array, frameSize, out: Int16Array) -> frameSize */
static napi_value decoder_decode_fec(napi_env env, napi_callback_info info) {
  static const char *usage = "Decoder.decodeFec(nextPacket: Uint8Array, frameSize: number, out: Int16Array)";
  size_t argc = 3;
  napi_value argv[3];
  decoder_state *s = open_decoder(env, info, &argc, argv, usage);
  if (s == NULL) return NULL;
  if (argc != 3) return throw_type(env, usage);
  const uint8_t *pkt;
  size_t len, outlen;
  int16_t *out;
  int frame;
  if (!arg_u8(env, argv[0], &pkt, &len, usage) || !arg_i16(env, argv[2], &out, &outlen, usage)) return NULL;
  if (!frame_arg(env, s, argv[1], outlen, &frame, usage)) return NULL;
  if (len == 0) return throw_range(env, "Decoder.decodeFec: the next packet is empty (use conceal())");
  int n = opus_decode(s->dec, pkt, (opus_int32)len, out, frame, 1);
  if (n < 0) return throw_opus(env, "opus_decode (FEC)", n);
  return make_int(env, n);
}

/* conceal(frameSize, out: Int16Array) -> frameSize */
static napi_value decoder_conceal(napi_env env, napi_callback_info info) {
  static const char *usage = "Decoder.conceal(frameSize: number, out: Int16Array)";
  size_t argc = 2;
  napi_value argv[2];
  decoder_state *s = open_decoder(env, info, &argc, argv, usage);
  if (s == NULL) return NULL;
  if (argc != 2) return throw_type(env, usage);
  size_t outlen;
  int16_t *out;
  int frame;
  if (!arg_i16(env, argv[1], &out, &outlen, usage)) return NULL;
  if (!frame_arg(env, s, argv[0], outlen, &frame, usage)) return NULL;
  int n = opus_decode(s->dec, NULL, 0, out, frame, 0);
  if (n < 0) return throw_opus(env, "opus_decode (PLC)", n);
  return make_int(env, n);
}

static napi_value decoder_reset(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  decoder_state *s = open_decoder(env, info, &argc, NULL, "Decoder.reset()");
  if (s == NULL) return NULL;
  int r = opus_decoder_ctl(s->dec, OPUS_RESET_STATE);
  if (r != OPUS_OK) return throw_opus(env, "OPUS_RESET_STATE", r);
  return NULL;
}

static napi_value decoder_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  decoder_state *s = unwrap_this(env, info, &DECODER_TAG, &argc, NULL, "Decoder.close()");
  if (s == NULL) return NULL;
  if (s->dec != NULL) opus_decoder_destroy(s->dec);
  s->dec = NULL;
  report_memory(env, &s->reported, -s->reported);
  return NULL;
}

static napi_value decoder_closed(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  decoder_state *s = unwrap_this(env, info, &DECODER_TAG, &argc, NULL, "Decoder.closed");
  if (s == NULL) return NULL;
  return make_bool(env, s->dec == NULL);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Encoder (tests, benches: Tapline itself never encodes) */

static void encoder_free(napi_env env, void *data, void *hint) {
  (void)hint;
  encoder_state *s = data;
  if (s->enc != NULL) opus_encoder_destroy(s->enc);
  report_memory(env, &s->reported, -s->reported);
  free(s);
}

static napi_value encoder_new(napi_env env, napi_callback_info info) {
  static const char *usage = "new Encoder(sampleRate: 8000|12000|16000|24000|48000, channels: 1|2, application: 2048 (VOIP)|2049 (AUDIO)|2051 (LOWDELAY))";
  if (!require_new(env, info, usage)) return NULL;
  size_t argc = 3;
  napi_value argv[3], self;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  int64_t rate, channels, app;
  if (argc != 3) return throw_type(env, usage);
  if (!arg_int(env, argv[0], 0, 48000, &rate, usage) || !arg_int(env, argv[1], 1, 2, &channels, usage) ||
      !arg_int(env, argv[2], 0, 4096, &app, usage))
    return NULL;
  if (!valid_rate(rate) || (app != OPUS_APPLICATION_VOIP && app != OPUS_APPLICATION_AUDIO && app != OPUS_APPLICATION_RESTRICTED_LOWDELAY))
    return throw_range(env, usage);
  encoder_state *s = calloc(1, sizeof *s);
  if (s == NULL) return throw_opus(env, "opus_encoder_create", OPUS_ALLOC_FAIL);
  int err = OPUS_OK;
  s->enc = opus_encoder_create((opus_int32)rate, (int)channels, (int)app, &err);
  if (err != OPUS_OK || s->enc == NULL) {
    free(s);
    return throw_opus(env, "opus_encoder_create", err != OPUS_OK ? err : OPUS_ALLOC_FAIL);
  }
  s->rate = (int32_t)rate;
  s->channels = (int32_t)channels;
  if (napi_wrap(env, self, s, encoder_free, NULL, NULL) != napi_ok) {
    encoder_free(env, s, NULL);
    return throw_type(env, "opus_native: cannot wrap the encoder");
  }
  report_memory(env, &s->reported, opus_encoder_get_size((int)channels));
  CHECK(napi_type_tag_object(env, self, &ENCODER_TAG));
  return self;
}

static encoder_state *open_encoder(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, const char *usage) {
  encoder_state *s = unwrap_this(env, info, &ENCODER_TAG, argc, argv, usage);
  if (s == NULL) return NULL;
  if (s->enc == NULL) {
    napi_throw_error(env, "ERR_OPUS_CLOSED", "the Opus encoder is closed");
    return NULL;
  }
  return s;
}

/* encode(pcm: Int16Array, frameSize) -> Buffer (a new one: the encoded packet) */
static napi_value encoder_encode(napi_env env, napi_callback_info info) {
  static const char *usage = "Encoder.encode(pcm: Int16Array, frameSize: number)";
  size_t argc = 2;
  napi_value argv[2];
  encoder_state *s = open_encoder(env, info, &argc, argv, usage);
  if (s == NULL) return NULL;
  if (argc != 2) return throw_type(env, usage);
  int16_t *pcm;
  size_t len;
  int64_t frame;
  if (!arg_i16(env, argv[0], &pcm, &len, usage) || !arg_int(env, argv[1], 1, s->rate, &frame, usage)) return NULL;
  if ((size_t)frame * (size_t)s->channels > len) return throw_range(env, "Encoder.encode: frameSize × channels exceeds the PCM given");
  unsigned char out[MAX_PACKET];
  opus_int32 n = opus_encode(s->enc, pcm, (int)frame, out, MAX_PACKET);
  if (n < 0) return throw_opus(env, "opus_encode", n);
  napi_value buf;
  CHECK(napi_create_buffer_copy(env, (size_t)n, out, NULL, &buf));
  return buf;
}

/* One integer encoder CTL, range-checked here, libopus checking the rest. */
static napi_value encoder_set_int(napi_env env, napi_callback_info info, int request, int64_t lo, int64_t hi, const char *usage) {
  size_t argc = 1;
  napi_value argv[1];
  encoder_state *s = open_encoder(env, info, &argc, argv, usage);
  if (s == NULL) return NULL;
  if (argc != 1) return throw_type(env, usage);
  int64_t v;
  if (!arg_int(env, argv[0], lo, hi, &v, usage)) return NULL;
  int r;
  switch (request) {
    case OPUS_SET_BITRATE_REQUEST: r = opus_encoder_ctl(s->enc, OPUS_SET_BITRATE((opus_int32)v)); break;
    case OPUS_SET_PACKET_LOSS_PERC_REQUEST: r = opus_encoder_ctl(s->enc, OPUS_SET_PACKET_LOSS_PERC((opus_int32)v)); break;
    case OPUS_SET_COMPLEXITY_REQUEST: r = opus_encoder_ctl(s->enc, OPUS_SET_COMPLEXITY((opus_int32)v)); break;
    default: r = OPUS_UNIMPLEMENTED;
  }
  if (r != OPUS_OK) return throw_opus(env, "opus_encoder_ctl", r);
  return NULL;
}

static napi_value encoder_set_bool(napi_env env, napi_callback_info info, int request, const char *usage) {
  size_t argc = 1;
  napi_value argv[1];
  encoder_state *s = open_encoder(env, info, &argc, argv, usage);
  if (s == NULL) return NULL;
  if (argc != 1) return throw_type(env, usage);
  bool v;
  if (!arg_bool(env, argv[0], &v, usage)) return NULL;
  int r;
  switch (request) {
    case OPUS_SET_INBAND_FEC_REQUEST: r = opus_encoder_ctl(s->enc, OPUS_SET_INBAND_FEC(v ? 1 : 0)); break;
    case OPUS_SET_DTX_REQUEST: r = opus_encoder_ctl(s->enc, OPUS_SET_DTX(v ? 1 : 0)); break;
    default: r = OPUS_UNIMPLEMENTED;
  }
  if (r != OPUS_OK) return throw_opus(env, "opus_encoder_ctl", r);
  return NULL;
}

static napi_value encoder_set_bitrate(napi_env env, napi_callback_info info) {
  return encoder_set_int(env, info, OPUS_SET_BITRATE_REQUEST, 500, 512000, "Encoder.setBitrate(bitsPerSecond: 500..512000)");
}
static napi_value encoder_set_loss(napi_env env, napi_callback_info info) {
  return encoder_set_int(env, info, OPUS_SET_PACKET_LOSS_PERC_REQUEST, 0, 100, "Encoder.setPacketLossPerc(percent: 0..100)");
}
static napi_value encoder_set_complexity(napi_env env, napi_callback_info info) {
  return encoder_set_int(env, info, OPUS_SET_COMPLEXITY_REQUEST, 0, 10, "Encoder.setComplexity(0..10)");
}
static napi_value encoder_set_fec(napi_env env, napi_callback_info info) {
  return encoder_set_bool(env, info, OPUS_SET_INBAND_FEC_REQUEST, "Encoder.setInbandFec(on: boolean)");
}
static napi_value encoder_set_dtx(napi_env env, napi_callback_info info) {
  return encoder_set_bool(env, info, OPUS_SET_DTX_REQUEST, "Encoder.setDtx(on: boolean)");
}

static napi_value encoder_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  encoder_state *s = unwrap_this(env, info, &ENCODER_TAG, &argc, NULL, "Encoder.close()");
  if (s == NULL) return NULL;
  if (s->enc != NULL) opus_encoder_destroy(s->enc);
  s->enc = NULL;
  report_memory(env, &s->reported, -s->reported);
  return NULL;
}

static napi_value encoder_closed(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  encoder_state *s = unwrap_this(env, info, &ENCODER_TAG, &argc, NULL, "Encoder.closed");
  if (s == NULL) return NULL;
  return make_bool(env, s->enc == NULL);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Packet inspection (no decoder needed) */

/* packetSamples(packet, sampleRate) -> samples per channel the packet decodes to (opus_packet_get_nb_samples) */
static napi_value packet_samples(napi_env env, napi_callback_info info) {
  static const char *usage = "packetSamples(packet: Uint8Array, sampleRate: 8000|12000|16000|24000|48000)";
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 2) return throw_type(env, usage);
  const uint8_t *pkt;
  size_t len;
  int64_t rate;
  if (!arg_u8(env, argv[0], &pkt, &len, usage) || !arg_int(env, argv[1], 0, 48000, &rate, usage)) return NULL;
  if (!valid_rate(rate)) return throw_range(env, usage);
  if (len == 0) return throw_range(env, "packetSamples: empty packet");
  int n = opus_packet_get_nb_samples(pkt, (opus_int32)len, (opus_int32)rate);
  if (n < 0) return throw_opus(env, "opus_packet_get_nb_samples", n);
  return make_int(env, n);
}

static int set_int_prop(napi_env env, napi_value obj, const char *name, int32_t v) {
  napi_value x;
  return napi_create_int32(env, v, &x) == napi_ok && napi_set_named_property(env, obj, name, x) == napi_ok;
}

/*
 * packetInfo(packet) -> { frames, samplesPerFrame (at 48 kHz), channels, bandwidth (Hz of audio bandwidth),
 * mode: 'silk' | 'hybrid' | 'celt', fec: boolean }. The packet is parsed (opus_packet_parse), so a malformed one
 * throws. `fec`: the first frame carries LBRR (in-band FEC) data for the packet before it. RFC 6716 §4.2.3-4.2.4:
 * a SILK or hybrid frame opens with one VAD flag per 20 ms SILK frame and then the LBRR flag, for the mid channel
 * and (stereo) again for the side channel; these first flags are coded with probability 1/2 each, so they are the
 * leading bits of the frame's first byte.
 */
static napi_value packet_info(napi_env env, napi_callback_info info) {
  static const char *usage = "packetInfo(packet: Uint8Array)";
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 1) return throw_type(env, usage);
  const uint8_t *pkt;
  size_t len;
  if (!arg_u8(env, argv[0], &pkt, &len, usage)) return NULL;
  if (len == 0) return throw_range(env, "packetInfo: empty packet");
  unsigned char toc;
  const unsigned char *frames[48];
  opus_int16 sizes[48];
  int count = opus_packet_parse(pkt, (opus_int32)len, &toc, frames, sizes, NULL);
  if (count < 0) return throw_opus(env, "opus_packet_parse", count);
  int spf = opus_packet_get_samples_per_frame(pkt, 48000);
  int stereo = opus_packet_get_nb_channels(pkt) == 2;
  int bw = opus_packet_get_bandwidth(pkt);
  int hz = bw == OPUS_BANDWIDTH_NARROWBAND ? 4000 : bw == OPUS_BANDWIDTH_MEDIUMBAND ? 6000 : bw == OPUS_BANDWIDTH_WIDEBAND ? 8000
         : bw == OPUS_BANDWIDTH_SUPERWIDEBAND ? 12000 : 20000;
  const char *mode = (toc & 0x80) ? "celt" : ((toc & 0x60) == 0x60) ? "hybrid" : "silk";
  bool fec = false;
  if (!(toc & 0x80) && count > 0 && sizes[0] > 0) {
    int silk_frames = spf > 960 ? spf / 960 : 1;
    uint8_t b = frames[0][0];
    fec = ((b >> (7 - silk_frames)) & 1) != 0;
    if (stereo) fec = fec || ((b >> (6 - 2 * silk_frames)) & 1) != 0;
  }
  napi_value obj, m, f;
  CHECK(napi_create_object(env, &obj));
  if (!set_int_prop(env, obj, "frames", count) || !set_int_prop(env, obj, "samplesPerFrame", spf) ||
      !set_int_prop(env, obj, "channels", stereo ? 2 : 1) || !set_int_prop(env, obj, "bandwidth", hz))
    return throw_type(env, "opus_native: cannot build the result");
  CHECK(napi_create_string_utf8(env, mode, NAPI_AUTO_LENGTH, &m));
  CHECK(napi_set_named_property(env, obj, "mode", m));
  CHECK(napi_get_boolean(env, fec, &f));
  CHECK(napi_set_named_property(env, obj, "fec", f));
  return obj;
}

/* ---------------------------------------------------------------------------------------------------------- */

static int define_class(napi_env env, napi_value exports, const char *name, napi_callback ctor, const napi_property_descriptor *props,
                        size_t n) {
  napi_value cls;
  return napi_define_class(env, name, NAPI_AUTO_LENGTH, ctor, NULL, n, props, &cls) == napi_ok &&
         napi_set_named_property(env, exports, name, cls) == napi_ok;
}

#define METHOD(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_default_method, NULL}
#define GETTER(name, fn) {name, NULL, NULL, fn, NULL, NULL, napi_enumerable, NULL}

NAPI_MODULE_INIT() {
  static const napi_property_descriptor dec_props[] = {
      METHOD("decode", decoder_decode), METHOD("decodeFec", decoder_decode_fec), METHOD("conceal", decoder_conceal),
      METHOD("reset", decoder_reset),   METHOD("close", decoder_close),          GETTER("closed", decoder_closed),
  };
  static const napi_property_descriptor enc_props[] = {
      METHOD("encode", encoder_encode),          METHOD("setBitrate", encoder_set_bitrate), METHOD("setPacketLossPerc", encoder_set_loss),
      METHOD("setComplexity", encoder_set_complexity), METHOD("setInbandFec", encoder_set_fec), METHOD("setDtx", encoder_set_dtx),
      METHOD("close", encoder_close),            GETTER("closed", encoder_closed),
  };
  if (!define_class(env, exports, "Decoder", decoder_new, dec_props, sizeof dec_props / sizeof dec_props[0]) ||
      !define_class(env, exports, "Encoder", encoder_new, enc_props, sizeof enc_props / sizeof enc_props[0]))
    return NULL;
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {{"packetSamples", packet_samples}, {"packetInfo", packet_info}};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &f) != napi_ok ||
        napi_set_named_property(env, exports, fns[i].name, f) != napi_ok)
      return NULL;
  }
  napi_value v;
  if (napi_create_string_utf8(env, opus_get_version_string(), NAPI_AUTO_LENGTH, &v) != napi_ok ||
      napi_set_named_property(env, exports, "version", v) != napi_ok)
    return NULL;
  return exports;
}
