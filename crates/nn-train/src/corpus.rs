//! Text corpora in the Penn Treebank's format, read as the book's `dataset/ptb.py` reads them,
//! and a made-up corpus in that format for machines without the PTB files.

use nn_core::{Error, NumpyRng, Result};
use std::collections::HashMap;
use std::path::Path;

/// Where the book's `ptb.py` downloads the PTB files from (`ptb.train.txt`, `ptb.valid.txt`,
/// `ptb.test.txt`).
pub const PTB_URL: &str = "https://raw.githubusercontent.com/tomsercu/lstm/master/data/";

/// A corpus as word ids, with its vocabulary: the book's `corpus, word_to_id, id_to_word`.
///
/// Read as `ptb.load_data` reads a file: every newline becomes the word `<eos>`, words are
/// split at whitespace, and ids are given in order of first appearance.
///
/// ```
/// use nn_train::Corpus;
/// let c = Corpus::from_text(" the cat sat \n the dog \n")?;
/// assert_eq!(c.ids(), [0, 1, 2, 3, 0, 4, 3]);
/// assert_eq!(c.word(3), Some("<eos>"));
/// assert_eq!(c.encode(" the dog sat \n", "a test sentence")?, [0, 4, 2, 3]);
/// # Ok::<(), nn_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corpus {
    ids: Vec<u32>,
    words: Vec<String>,
    index: HashMap<String, u32>,
}

/// The words of `text` as `ptb.py` splits them: `replace('\n', '<eos>')`, then `split()` (so
/// a line that ends without a space joins its last word to `<eos>`, as in the book).
fn words(text: &str) -> Vec<String> {
    text.replace('\n', "<eos>")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// A file's text, with the missing-file error saying where the PTB files come from.
fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|error| {
        let error = if error.kind() == std::io::ErrorKind::NotFound {
            std::io::Error::new(
                error.kind(),
                format!(
                    "{error}: the book's PTB files (ptb.train.txt, ptb.valid.txt, ptb.test.txt) \
                     are at {PTB_URL}"
                ),
            )
        } else {
            error
        };
        Error::Io {
            path: path.to_path_buf(),
            error,
        }
    })
}

impl Corpus {
    /// The corpus of a file (the book's `ptb.load_data('train')`).
    pub fn load(path: impl AsRef<Path>) -> Result<Corpus> {
        let path = path.as_ref();
        Corpus::from_text(&read(path)?).map_err(|e| match e {
            Error::Empty(_) => Error::Format {
                path: path.to_path_buf(),
                detail: "holds no words".into(),
            },
            e => e,
        })
    }

    /// The corpus of `text`. A text without words is an error.
    pub fn from_text(text: &str) -> Result<Corpus> {
        let mut index = HashMap::new();
        let mut words_seen = Vec::new();
        let mut ids = Vec::new();
        for w in words(text) {
            let next = words_seen.len() as u32;
            let id = *index.entry(w.clone()).or_insert_with(|| {
                words_seen.push(w);
                next
            });
            ids.push(id);
        }
        if ids.is_empty() {
            return Err(Error::Empty("the corpus (no words)".into()));
        }
        if words_seen.len() > u32::MAX as usize {
            return Err(Error::invalid(
                "more distinct words than 32-bit ids can number",
            ));
        }
        Ok(Corpus {
            ids,
            words: words_seen,
            index,
        })
    }

    /// Another file's words through this corpus's vocabulary (the book's
    /// `ptb.load_data('test')`, which reads the test file with the training file's ids).
    pub fn encode_file(&self, path: impl AsRef<Path>) -> Result<Vec<u32>> {
        let path = path.as_ref();
        let text = read(path)?;
        self.encode(&text, "the file").map_err(|e| {
            let detail = match e {
                Error::InvalidArgument(detail) => detail,
                Error::Empty(_) => "holds no words".into(),
                e => return e,
            };
            Error::Format {
                path: path.to_path_buf(),
                detail,
            }
        })
    }

    /// `text`'s words as this corpus's ids; `what` names the text in errors. A word the
    /// vocabulary lacks is an error naming it and how many there are.
    pub fn encode(&self, text: &str, what: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        let mut missing = Vec::new();
        for (i, w) in words(text).into_iter().enumerate() {
            match self.index.get(&w) {
                Some(&id) => ids.push(id),
                None => missing.push((i, w)),
            }
        }
        if let Some((i, w)) = missing.first() {
            return Err(Error::invalid(format!(
                "{} of the words of {what} are not in the training vocabulary, the first \
                 {w:?} (word {})",
                missing.len(),
                i + 1
            )));
        }
        if ids.is_empty() {
            return Err(Error::Empty(format!("{what} (no words)")));
        }
        Ok(ids)
    }

    /// The word ids, in order.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }
    /// Number of words.
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    /// Always false: a corpus has at least one word.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
    /// Number of distinct words (the book's `len(word_to_id)`).
    pub fn vocab_size(&self) -> usize {
        self.words.len()
    }
    /// The word of an id (`id_to_word`).
    pub fn word(&self, id: u32) -> Option<&str> {
        self.words.get(id as usize).map(String::as_str)
    }
    /// The id of a word (`word_to_id`).
    pub fn id(&self, word: &str) -> Option<u32> {
        self.index.get(word).copied()
    }
    /// The words, by id.
    pub fn words(&self) -> &[String] {
        &self.words
    }
}

/// `p / p.sum()` for `p = 1 / (1, 2, …, n)` with NumPy's pairwise sum (exact for the `n ≤ 128`
/// used here: eight running sums, combined as a tree, then the rest one by one).
fn zipf(n: usize) -> Vec<f64> {
    let p: Vec<f64> = (1..=n).map(|k| 1.0 / k as f64).collect();
    let sum = if n < 8 {
        p.iter().fold(0.0, |s, &v| s + v)
    } else {
        let mut r = [0.0; 8];
        r.copy_from_slice(&p[..8]);
        let whole = n - n % 8;
        for chunk in p[8..whole].chunks_exact(8) {
            for (a, &v) in r.iter_mut().zip(chunk) {
                *a += v;
            }
        }
        let mut s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &p[whole..] {
            s += v;
        }
        s
    };
    p.iter().map(|v| v / sum).collect()
}

/// NumPy's legacy `RandomState.choice(len(p), p=p)`: the first index whose cumulative sum
/// (normalised by its last value) is above a uniform draw.
fn choice(rng: &mut NumpyRng, p: &[f64]) -> usize {
    let mut cdf = Vec::with_capacity(p.len());
    let mut s = 0.0;
    for &v in p {
        s += v;
        cdf.push(s);
    }
    let last = *cdf.last().expect("a distribution over at least one value");
    cdf.iter_mut().for_each(|c| *c /= last);
    let u = rng.random();
    cdf.partition_point(|&c| c <= u).min(p.len() - 1)
}

/// A made-up corpus in PTB's format: `sentences` sentences of a small grammar (determiners,
/// adjectives, nouns, verbs and prepositions made of syllables, with `<unk>` and `N` as PTB
/// has them), one a line, each with a leading space and ending in `" \n"`. The same
/// `(sentences, seed)` give the same text, byte for byte the text the book-faithful reference
/// (`book_ch05.py corpus --sentences S --corpus-seed SEED`) writes, so that a run on it can be
/// compared with the reference's. 400 sentences (the examples' default) make about 4 000 words
/// over a vocabulary of about 110.
pub fn made_up_corpus(sentences: usize, seed: u32) -> String {
    let mut rs = NumpyRng::new(seed);
    const SYL: [&str; 12] = [
        "ka", "lo", "mi", "tu", "ne", "ra", "so", "vi", "de", "pu", "ge", "ba",
    ];
    let words = |rs: &mut NumpyRng, n: usize, k: usize| {
        let mut out: Vec<String> = Vec::new();
        while out.len() < n {
            let w: String = (0..k)
                .map(|_| SYL[rs.interval(SYL.len() as u64 - 1) as usize])
                .collect();
            if !out.contains(&w) {
                out.push(w);
            }
        }
        out
    };
    let nouns = words(&mut rs, 60, 2);
    let verbs = words(&mut rs, 25, 3);
    let adjs = words(&mut rs, 20, 2);
    let (dets, preps) = (["the", "a", "every"], ["on", "near", "under", "with"]);
    let (pn, pv, pa) = (zipf(nouns.len()), zipf(verbs.len()), zipf(adjs.len()));
    let np_phrase = |rs: &mut NumpyRng, out: &mut Vec<String>| {
        out.push(dets[rs.interval(dets.len() as u64 - 1) as usize].to_owned());
        if rs.random() < 0.4 {
            out.push(adjs[choice(rs, &pa)].clone());
        }
        out.push(nouns[choice(rs, &pn)].clone());
        if rs.random() < 0.15 {
            out.push("<unk>".into());
        }
    };
    let mut text = String::new();
    for _ in 0..sentences {
        let mut s = Vec::new();
        np_phrase(&mut rs, &mut s);
        s.push(verbs[choice(&mut rs, &pv)].clone());
        np_phrase(&mut rs, &mut s);
        if rs.random() < 0.5 {
            s.push(preps[rs.interval(preps.len() as u64 - 1) as usize].to_owned());
            np_phrase(&mut rs, &mut s);
        }
        if rs.random() < 0.2 {
            s.push("N".into());
        }
        text.push(' ');
        text.push_str(&s.join(" "));
        text.push_str(" \n");
    }
    text
}
