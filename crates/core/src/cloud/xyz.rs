//! Plain text scans (.xyz, .csv, .txt): one point a line, x y z first, separated by blanks or
//! commas. Further columns (normals, intensity, labels) are ignored; `#` starts a comment, and a
//! first line of column names is allowed.

use std::io::BufRead;
use std::path::Path;

use super::{Problem, MAX_POINTS};

pub(super) fn read(path: &Path) -> Result<Vec<[f32; 3]>, Problem> {
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut points = Vec::new();
    for (number, line) in file.lines().enumerate() {
        let line = line?;
        let content = line.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        match parse_point(content) {
            Some(point) => points.push(point),
            None if number == 0 => continue, // a header line such as "x,y,z"
            None => return Err(Problem::Data(format!("line {}: expected three numbers, found '{content}'", number + 1))),
        }
        if points.len() > MAX_POINTS {
            return Err(Problem::TooLarge(points.len() as u64));
        }
    }
    Ok(points)
}

/// The first three numbers of a line; `None` if the line has fewer or one of them is not a number.
pub fn parse_point(line: &str) -> Option<[f32; 3]> {
    let mut fields = line.split(|c: char| c == ',' || c.is_whitespace()).filter(|f| !f.is_empty());
    let mut next = || fields.next()?.parse::<f32>().ok();
    Some([next()?, next()?, next()?])
}
