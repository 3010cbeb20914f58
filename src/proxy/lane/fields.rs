//! A message's header fields as Pingora keeps them (pure): an `http::HeaderMap` beside a map of the names'
//! original case. The lane edits a message with the same operations Pingora's path applies, on this model,
//! so it puts the same fields in the same order on the wire without building either map: values of one
//! name go out together where that name first appeared, removing a name moves the last name into its
//! place (`HeaderMap` removes entries with `swap_remove`), and `insert` keeps a name's place but replaces
//! its values and its case.

use std::borrow::Cow;

struct Field<'a> {
    /// The name's place holder in `order`.
    entry: usize,
    name: Cow<'a, [u8]>,
    value: Cow<'a, [u8]>,
}

#[derive(Default)]
pub(super) struct Fields<'a> {
    /// Entry ids in wire order.
    order: Vec<usize>,
    /// Every value, in the order it was added.
    fields: Vec<Field<'a>>,
    next_entry: usize,
}

impl<'a> Fields<'a> {
    pub(super) fn with_capacity(n: usize) -> Self {
        Fields { order: Vec::with_capacity(n + 4), fields: Vec::with_capacity(n + 4), next_entry: 0 }
    }

    fn entry_of(&self, name: &[u8]) -> Option<usize> {
        self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name)).map(|f| f.entry)
    }

    pub(super) fn contains(&self, name: &[u8]) -> bool {
        self.entry_of(name).is_some()
    }

    /// The first value under `name`.
    pub(super) fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name)).map(|f| &*f.value)
    }

    /// Every value under `name`, in order.
    pub(super) fn get_all<'s>(&'s self, name: &'s [u8]) -> impl Iterator<Item = &'s [u8]> + 's {
        self.fields.iter().filter(move |f| f.name.eq_ignore_ascii_case(name)).map(|f| &*f.value)
    }

    pub(super) fn append(&mut self, name: impl Into<Cow<'a, [u8]>>, value: impl Into<Cow<'a, [u8]>>) {
        let name = name.into();
        let entry = self.entry_of(&name).unwrap_or_else(|| self.new_entry());
        self.fields.push(Field { entry, name, value: value.into() });
    }

    fn new_entry(&mut self) -> usize {
        let entry = self.next_entry;
        self.next_entry += 1;
        self.order.push(entry);
        entry
    }

    /// Replaces every value under `name` (and its case) with one, in the name's place; a new name goes last.
    pub(super) fn insert(&mut self, name: impl Into<Cow<'a, [u8]>>, value: impl Into<Cow<'a, [u8]>>) {
        let name = name.into();
        let entry = match self.entry_of(&name) {
            Some(entry) => {
                self.fields.retain(|f| f.entry != entry);
                entry
            }
            None => self.new_entry(),
        };
        self.fields.push(Field { entry, name, value: value.into() });
    }

    pub(super) fn remove(&mut self, name: &[u8]) {
        let Some(entry) = self.entry_of(name) else { return };
        self.fields.retain(|f| f.entry != entry);
        if let Some(at) = self.order.iter().position(|e| *e == entry) {
            self.order.swap_remove(at);
        }
    }

    /// `name: value\r\n` for every field, in wire order.
    pub(super) fn write(&self, out: &mut Vec<u8>) {
        for entry in &self.order {
            for f in self.fields.iter().filter(|f| f.entry == *entry) {
                out.extend_from_slice(&f.name);
                out.extend_from_slice(b": ");
                out.extend_from_slice(&f.value);
                out.extend_from_slice(b"\r\n");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::http::RequestHeader;

    fn wire(fields: &Fields<'_>) -> String {
        let mut out = Vec::new();
        fields.write(&mut out);
        String::from_utf8(out).unwrap()
    }

    /// The same operations on Pingora's own header and on the model give the same wire bytes.
    #[test]
    fn edits_come_out_as_pingora_writes_them() {
        let given = [("Host", "a"), ("X-B", "1"), ("Connection", "close"), ("x-b", "2"), ("Cookie", "c"), ("Z", "z")];
        let mut pingora = RequestHeader::build("GET", b"/", None).unwrap();
        let mut model = Fields::default();
        for (name, value) in given {
            pingora.append_header(name.to_string(), value).unwrap();
            model.append(name.as_bytes(), value.as_bytes());
        }
        pingora.remove_header("connection");
        model.remove(b"connection");
        pingora.insert_header("x-b", "3").unwrap();
        model.insert(&b"x-b"[..], &b"3"[..]);
        pingora.insert_header("x-new", "n").unwrap();
        model.insert(&b"x-new"[..], &b"n"[..]);
        pingora.append_header(http::header::HOST, "b").unwrap();
        model.append(&b"Host"[..], &b"b"[..]);
        let mut expected = Vec::new();
        pingora.header_to_h1_wire(&mut expected);
        assert_eq!(wire(&model), String::from_utf8(expected).unwrap());
        assert_eq!(model.get(b"HOST"), Some(&b"a"[..]));
        assert_eq!(model.get_all(b"host").count(), 2);
        assert!(!model.contains(b"connection"));
    }
}
