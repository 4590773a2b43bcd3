//! Local receivers for notification tests: an HTTP server that records
//! what it is sent (or answers 500, or never answers), and a minimal SMTP
//! server that records the messages.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the HTTP receiver saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
}

/// How the HTTP receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    /// Reads the request and never answers.
    Hang,
}

/// An HTTP server on a free loopback port, in a thread.
pub struct HttpReceiver {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl HttpReceiver {
    pub fn start(answer: Answer) -> HttpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || serve(stream, answer, &seen));
            }
        });
        HttpReceiver { port, requests }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, answer: Answer, seen: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let find = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if let Some(length) = find("content-length") {
        body.resize(length.parse().unwrap(), 0);
        reader.read_exact(&mut body).unwrap();
    } else if find("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).unwrap();
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    seen.lock().unwrap().push(Request {
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let mut stream = stream;
    match answer {
        Answer::Status(status) => {
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            );
        }
        Answer::Hang => std::thread::sleep(Duration::from_secs(60)),
    }
}

/// An SMTP server that accepts everything (no TLS, no auth) and keeps the
/// messages' DATA.
pub struct SmtpReceiver {
    port: u16,
    messages: Arc<Mutex<Vec<String>>>,
}

impl SmtpReceiver {
    pub fn start() -> SmtpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&messages);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || converse(stream, &seen));
            }
        });
        SmtpReceiver { port, messages }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }
}

fn converse(stream: TcpStream, seen: &Mutex<Vec<String>>) {
    let mut out = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let _ = write!(out, "220 receiver ESMTP\r\n");
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap_or(0) > 0 {
        let command = line.trim_end().to_ascii_uppercase();
        let reply = if command.starts_with("EHLO") {
            "250-receiver\r\n250 8BITMIME\r\n"
        } else if command.starts_with("DATA") {
            let _ = write!(out, "354 go on\r\n");
            let mut data = String::new();
            loop {
                let mut part = String::new();
                if reader.read_line(&mut part).unwrap_or(0) == 0 || part == ".\r\n" {
                    break;
                }
                data.push_str(&part);
            }
            seen.lock().unwrap().push(data);
            "250 queued\r\n"
        } else if command.starts_with("QUIT") {
            let _ = write!(out, "221 bye\r\n");
            return;
        } else {
            "250 ok\r\n"
        };
        let _ = out.write_all(reply.as_bytes());
        line.clear();
    }
}
