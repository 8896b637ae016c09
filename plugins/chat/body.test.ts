import * as assert from 'node:assert/strict';
import * as iconv from 'iconv-lite';
import { decodeBase64Strict, decodeMsgr, decodeMsTextFormat, decodeQuotedPrintable, decodeTextBody, parseContentType } from './body';
import { bodyFor, msgrFor } from '../../test/im-sessions';

const TEXTS = ['Hello', 'Grüße aus Köln — 10 € «ok»', 'Привет, как дела?', '你好，世界', 'こんにちは 👋🏽 emoji', 'שלום עולם', 'two  spaces and\nnew line', 'a < b & c > "d"'];

describe('chat bodies: what was sent is what the transcript says', () => {
  it('parses Content-Type with quoted and msgr parameters', () => {
    assert.deepEqual(parseContentType('Text/Plain; charset="UTF-8";msgr=WAAt=='), { type: 'text/plain', params: { charset: 'UTF-8', msgr: 'WAAt==' } });
    assert.deepEqual(parseContentType('multipart/alternative;boundary="a;b"'), { type: 'multipart/alternative', params: { boundary: 'a;b' } });
  });

  for (const form of ['plain', 'html', 'rtf', 'alternative', 'base64', 'quoted-printable'] as const) {
    it(`${form}: every sample text round-trips exactly`, () => {
      for (const text of TEXTS) {
        const b = bodyFor({ from: 0, text, form });
        const cte = b.headers.find((h) => /^Content-Transfer-Encoding:/i.test(h))?.split(':')[1]?.trim();
        const d = decodeTextBody(b.contentType, b.body, cte);
        assert.equal(d.text, text, `${form}: ${JSON.stringify(text)}`);
        assert.deepEqual(d.warnings, []);
        assert.equal(d.raw, undefined, 'no raw copy when the body read cleanly');
      }
    });
  }

  it('legacy charsets: Windows-1251, ISO-8859-1, Shift_JIS, GB2312, UTF-16', () => {
    for (const [charset, text] of [['windows-1251', 'Привет'], ['iso-8859-1', 'Grüße'], ['shift_jis', 'こんにちは'], ['gb2312', '你好'], ['utf-16', 'Ünïcødé']] as const) {
      const d = decodeTextBody(`text/plain; charset=${charset}`, iconv.encode(text, charset, { addBOM: charset === 'utf-16' }));
      assert.equal(d.text, text, charset);
      assert.deepEqual(d.warnings, []);
    }
  });

  it('text/html: the plain text a reader sees, the HTML kept as the rich body', () => {
    const html = '<div><span style="font-family:Segoe UI">Hi <b>Bob</b>,</span></div><div>see&nbsp;&nbsp;<a href="http://x">the link</a> &amp; <img alt=":)" src="e.png"></div><p>para</p>';
    const d = decodeTextBody('text/html; charset=UTF-8', Buffer.from(html));
    assert.equal(d.text, 'Hi Bob,\nsee  the link & :)\npara');
    assert.deepEqual(d.rich, { contentType: 'text/html', body: html });
    assert.equal(decodeTextBody('text/html', Buffer.from('<html><head><style>p{}</style><title>x</title></head><body>a<br>b<br/><br />c<script>alert(1)</script></body></html>')).text, 'a\nb\n\nc');
  });

  it('text/rtf: code pages from \\ansicpg and the font table, \\u with its fallback skipped, tables and fields left out', () => {
    const rtf =
      "{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0\\fswiss\\fcharset0 Arial;}{\\f1\\fnil\\fcharset204 Tahoma;}{\\f2\\fnil\\fcharset128 MS Gothic;}}" +
      "{\\colortbl ;\\red255\\green0\\blue0;}{\\*\\generator Msftedit 5.41;}\\viewkind4\\uc1\\pard\\f0\\fs20 caf\\'e9 \\b bold\\b0\\par " +
      "\\f1\\'cf\\'f0\\'e8\\'e2\\'e5\\'f2\\par \\f2\\'82\\'b1\\'82\\'f1 \\f0\\u8364?5 \\{x\\}\\tab y\\line z{\\field{\\*\\fldinst HYPERLINK \"http://a\"}{\\fldrslt link}}\\par\r\n}";
    const d = decodeTextBody('text/rtf', Buffer.from(rtf, 'latin1'));
    assert.equal(d.text, 'café bold\nПривет\nこん €5 {x}\ty\nzlink');
    assert.deepEqual(d.warnings, []);
    assert.equal(d.rich?.contentType, 'text/rtf');
  });

  it('multipart/alternative: the sender\'s plain part is the text, the richest part (HTML over RTF) is kept', () => {
    const b = 'b1';
    const body = [`--${b}`, 'Content-Type: text/plain; charset=UTF-8', '', 'plain words', `--${b}`, 'Content-Type: text/html; charset=UTF-8', '', '<b>plain</b> words', `--${b}`, 'Content-Type: text/rtf', '', '{\\rtf1 plain words}', `--${b}--`, ''].join('\r\n');
    const d = decodeTextBody(`multipart/alternative; boundary=${b}`, Buffer.from(body));
    assert.equal(d.text, 'plain words');
    assert.deepEqual(d.rich, { contentType: 'text/html', body: '<b>plain</b> words' });
    // No plain part: the richest part rendered.
    const noPlain = [`--${b}`, 'Content-Type: text/html', 'Content-Transfer-Encoding: base64', '', Buffer.from('<i>only</i> html').toString('base64'), `--${b}--`].join('\r\n');
    const d2 = decodeTextBody(`multipart/alternative; boundary=${b}`, Buffer.from(noPlain));
    assert.equal(d2.text, 'only html');
    assert.equal(d2.contentType, 'text/html');
  });

  it('msgr= formatting metadata is decoded (UTF-16LE X-MMS-IM-Format) and kept as sent', () => {
    const f = decodeMsgr(msgrFor('Segoe UI'));
    assert.equal(f.decoded, 'X-MMS-IM-Format: FN=Segoe%20UI; EF=; CO=0; CS=0; PF=0');
    assert.deepEqual(f.fields, { FN: 'Segoe UI', EF: '', CO: '0', CS: '0', PF: '0' });
    assert.deepEqual(decodeMsgr('not base64!'), { msgr: 'not base64!' });
    const d = decodeTextBody(`text/plain; charset=UTF-8;msgr=${msgrFor('Calibri')}`, Buffer.from('x'));
    assert.equal(d.format?.fields?.FN, 'Calibri');
  });

  it('ms-text-format: the first message inside the INVITE (base64 ms-body) is decoded', () => {
    const d = decodeMsTextFormat(`text/plain; charset=UTF-8;msgr=${msgrFor()};ms-body=${Buffer.from('Hi, 世界').toString('base64')}`);
    assert.equal(d?.text, 'Hi, 世界');
    assert.equal(d?.format?.fields?.FN, 'Segoe UI');
    assert.equal(decodeMsTextFormat('text/html; charset=UTF-8;ms-body=' + Buffer.from('<b>bold</b> start').toString('base64'))?.text, 'bold start');
    assert.equal(decodeMsTextFormat('text/plain; charset=UTF-8'), undefined, 'no ms-body: no message');
  });

  it('strict base64 and quoted-printable', () => {
    assert.equal(decodeBase64Strict('SGk=')?.toString(), 'Hi');
    assert.equal(decodeBase64Strict('SGk')?.toString(), 'Hi', 'unpadded');
    assert.equal(decodeBase64Strict('SG k=\r\n')?.toString(), 'Hi', 'whitespace');
    for (const bad of ['SGk*', 'S', 'SG=k', '====', 'SGk==x']) assert.equal(decodeBase64Strict(bad), undefined, bad);
    assert.deepEqual(decodeQuotedPrintable(Buffer.from('caf=C3=A9 =\r\nend')), { bytes: Buffer.from('café end'), bad: 0 });
    assert.equal(decodeQuotedPrintable(Buffer.from('a=ZZb')).bad, 1);
  });
});

describe('chat bodies: malformed input is kept raw with a warning, never dropped, never a crash', () => {
  it('bad base64 transfer encoding: the body as received, a warning, the raw bytes', () => {
    const body = Buffer.from('SGVsbG8*!!not base64');
    const d = decodeTextBody('text/plain; charset=UTF-8', body, 'base64');
    assert.equal(d.text, body.toString());
    assert.match(d.warnings[0] ?? '', /not valid base64/);
    assert.equal(d.raw?.base64, body.toString('base64'));
  });

  it('bad base64 in ms-body: the encoded text, a warning', () => {
    const d = decodeMsTextFormat('text/plain; charset=UTF-8;ms-body=@@@');
    assert.equal(d?.text, '@@@');
    assert.match(d?.warnings[0] ?? '', /ms-body is not valid base64/);
    assert.ok(d?.raw !== undefined);
  });

  it('wrong charset (declared UTF-8, sent Windows-1252): read as Windows-1252, warned, raw kept', () => {
    const bytes = iconv.encode('Grüße €', 'windows-1252');
    const d = decodeTextBody('text/plain; charset=UTF-8', bytes);
    assert.equal(d.text, 'Grüße €');
    assert.match(d.warnings[0] ?? '', /not valid UTF-8/);
    assert.equal(Buffer.from(d.raw!.base64, 'base64').equals(bytes), true);
  });

  it('unknown charset: read as UTF-8 with a warning', () => {
    const d = decodeTextBody('text/plain; charset=x-klingon', Buffer.from('qapla’'));
    assert.equal(d.text, 'qapla’');
    assert.match(d.warnings[0] ?? '', /unknown charset "x-klingon"/);
  });

  it('truncated multipart/alternative: the readable text salvaged, the body kept raw', () => {
    const body = Buffer.from('--b1\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nthe cut-off message\r\n--b1\r\nContent-Type: text/html\r\n\r\n<b>the cut');
    const d = decodeTextBody('multipart/alternative; boundary=b1', body);
    assert.match(d.text, /the cut-off message/);
    assert.match(d.warnings[0] ?? '', /truncated/);
    assert.equal(d.raw?.base64, body.toString('base64'));
  });

  it('multipart without a boundary, RTF that is not RTF, unbalanced RTF, bad QP, non-text types', () => {
    assert.match(decodeTextBody('multipart/alternative', Buffer.from('x')).warnings[0] ?? '', /boundary/);
    const notRtf = decodeTextBody('text/rtf', Buffer.from('just words'));
    assert.equal(notRtf.text, 'just words');
    assert.match(notRtf.warnings[0] ?? '', /does not start with \{\\rtf/);
    const cut = decodeTextBody('text/rtf', Buffer.from('{\\rtf1\\ansi hello {\\b world'));
    assert.equal(cut.text, 'hello world');
    assert.match(cut.warnings[0] ?? '', /not closed/);
    const qp = decodeTextBody('text/plain; charset=UTF-8', Buffer.from('50=% off'), 'quoted-printable');
    assert.equal(qp.text, '50=% off');
    assert.match(qp.warnings[0] ?? '', /malformed escape/);
    const img = decodeTextBody('image/gif', Buffer.from([0x47, 0x49, 0x46]));
    assert.match(img.warnings.join(), /not a text type/);
    assert.equal(img.raw?.base64, 'R0lG');
  });

  it('garbage of every kind never throws', () => {
    const junk = [Buffer.alloc(0), Buffer.from([0xff, 0xfe, 0x00, 0xd8]), Buffer.from('{\\rtf1\\u99999999999\\\'zz\\bin5 }}}}'), Buffer.from('<<<>>>&&&;;;<!--'), Buffer.from('--x\r\n\r\n--x--')];
    for (const ct of ['text/plain', 'text/plain; charset=utf-16', 'text/html', 'text/rtf', 'multipart/alternative; boundary=x', 'multipart/related; boundary=x', '', ';;;', 'text/plain; charset=']) {
      for (const b of junk) {
        for (const cte of [undefined, 'base64', 'quoted-printable', 'x-uuencode']) {
          const d = decodeTextBody(ct, b, cte);
          assert.equal(typeof d.text, 'string');
        }
      }
    }
  });
});
