use super::*;

fn limits() -> ParseLimits {
    ParseLimits { max_args: 8, max_request: 1024, max_inline: 64 }
}

/// Feeds `input` in pieces of `step` bytes; returns the commands and the
/// first error.
fn feed(p: &mut RequestParser, input: &[u8], step: usize) -> (Vec<Vec<Bytes>>, Option<ParseError>) {
    let mut buf = BytesMut::new();
    let mut cmds = Vec::new();
    for chunk in input.chunks(step.max(1)) {
        buf.extend_from_slice(chunk);
        loop {
            match p.next(&mut buf) {
                Ok(Some(c)) => cmds.push(c),
                Ok(None) => break,
                Err(e) => return (cmds, Some(e)),
            }
        }
    }
    (cmds, None)
}

fn words(c: &[Bytes]) -> Vec<&[u8]> {
    c.iter().map(|b| &b[..]).collect()
}

#[test]
fn pipelined_commands_parse_the_same_however_they_are_cut() {
    let input = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n*0\r\n\r\n*3\r\n$3\r\nSET\r\n$0\r\n\r\n$5\r\na\r\nb\n\r\n";
    for step in 1..=input.len() {
        let (cmds, err) = feed(&mut RequestParser::new(limits()), input, step);
        assert_eq!(err, None, "step {step}");
        let got: Vec<Vec<&[u8]>> = cmds.iter().map(|c| words(c)).collect();
        assert_eq!(got, vec![vec![&b"GET"[..], b"k"], vec![b"PING"], vec![b"SET", b"", b"a\r\nb\n"]], "step {step}");
    }
}

#[test]
fn a_nested_array_is_refused_at_its_first_byte() {
    // The 40 KB request that used to overflow the stack.
    let deep = b"*1\r\n".repeat(10_000);
    let (cmds, err) = feed(&mut RequestParser::new(ParseLimits::default()), &deep, 4096);
    assert!(cmds.is_empty());
    assert_eq!(err, Some(ParseError::ExpectedBulk(b'*')));
}

#[test]
fn only_bulk_strings_are_arguments() {
    for (input, first) in [(&b"*2\r\n$3\r\nGET\r\n:12\r\n"[..], b':'), (b"*1\r\n+PING\r\n", b'+')] {
        let (_, err) = feed(&mut RequestParser::new(limits()), input, 1);
        assert_eq!(err, Some(ParseError::ExpectedBulk(first)));
    }
}

#[test]
fn declared_lengths_are_checked_before_anything_is_awaited() {
    let cases: [(&[u8], ParseError); 7] = [
        (b"*9\r\n", ParseError::MultibulkLength),
        (b"*99999999999999999999\r\n", ParseError::MultibulkLength),
        (b"*x\r\n", ParseError::MultibulkLength),
        (b"*1\r\n$-1\r\n", ParseError::BulkLength),
        (b"*1\r\n$1025\r\n", ParseError::BulkLength),
        (b"*1\r\n$12a\r\n", ParseError::BulkLength),
        (b"*1\r\n$3\r\nGETxx", ParseError::Unterminated),
    ];
    for (input, want) in cases {
        let (_, err) = feed(&mut RequestParser::new(limits()), input, 3);
        assert_eq!(err, Some(want), "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn a_header_line_without_an_end_is_refused_once_too_long() {
    let mut input = b"*".to_vec();
    input.extend(core::iter::repeat_n(b'1', 40));
    let (_, err) = feed(&mut RequestParser::new(limits()), &input, 5);
    assert_eq!(err, Some(ParseError::MultibulkLength));
}

#[test]
fn the_request_limit_counts_every_argument_and_its_framing() {
    // Each argument fits; together they pass 1024 bytes.
    let mut input = b"*3\r\n".to_vec();
    for _ in 0..3 {
        input.extend_from_slice(b"$400\r\n");
        input.extend(core::iter::repeat_n(b'v', 400));
        input.extend_from_slice(b"\r\n");
    }
    let (cmds, err) = feed(&mut RequestParser::new(limits()), &input, 100);
    assert!(cmds.is_empty());
    assert_eq!(err, Some(ParseError::RequestTooLarge(1024)));
    // Just under the limit is a command.
    let mut input = b"*2\r\n".to_vec();
    for _ in 0..2 {
        input.extend_from_slice(b"$400\r\n");
        input.extend(core::iter::repeat_n(b'v', 400));
        input.extend_from_slice(b"\r\n");
    }
    let (cmds, err) = feed(&mut RequestParser::new(limits()), &input, 100);
    assert_eq!((cmds.len(), err), (1, None));
}

#[test]
fn inline_lines_are_bounded() {
    let (cmds, err) = feed(&mut RequestParser::new(limits()), b"SET  a\tb \r\nPING\n", 2);
    assert_eq!(err, None);
    assert_eq!(words(&cmds[0]), vec![&b"SET"[..], b"a", b"b"]);
    assert_eq!(words(&cmds[1]), vec![&b"PING"[..]]);
    let long = vec![b'x'; 65];
    let (_, err) = feed(&mut RequestParser::new(limits()), &long, 7);
    assert_eq!(err, Some(ParseError::InlineTooBig));
}

#[test]
fn an_unfinished_request_is_searched_once_however_slowly_it_arrives() {
    // An 8 MiB inline line arriving 16 KiB at a time was decoded from byte 0
    // on every read. Each byte is now searched once: the total is linear.
    let limits = ParseLimits { max_inline: 8 << 20, ..ParseLimits::default() };
    let mut p = RequestParser::new(limits);
    let mut buf = BytesMut::new();
    let chunk = vec![b'a'; 16 << 10];
    for _ in 0..(8 << 20) / chunk.len() {
        buf.extend_from_slice(&chunk);
        assert_eq!(p.next(&mut buf), Ok(None));
    }
    assert_eq!(p.searched, 8 << 20);
    // A bulk string's bytes are never searched at all.
    let mut p = RequestParser::new(ParseLimits::default());
    let mut buf = BytesMut::from(&b"*1\r\n$3000000\r\n"[..]);
    assert_eq!(p.next(&mut buf), Ok(None));
    let header = p.searched;
    for _ in 0..3_000_000 / 1000 {
        buf.extend_from_slice(&[b'v'; 1000]);
        assert_eq!(p.next(&mut buf), Ok(None));
    }
    buf.extend_from_slice(b"\r\n");
    let cmd = p.next(&mut buf).unwrap().unwrap();
    assert_eq!(cmd[0].len(), 3_000_000);
    assert_eq!(p.searched, header);
}

#[test]
fn a_huge_declared_array_reserves_no_room_for_it() {
    let mut p = RequestParser::new(ParseLimits::default());
    let mut buf = BytesMut::from(&b"*65536\r\n"[..]);
    assert_eq!(p.next(&mut buf), Ok(None));
    assert!(p.args.capacity() <= 16, "capacity {}", p.args.capacity());
}
