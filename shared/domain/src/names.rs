//! Enums whose values are written by name: in config files, in stored records, in messages.
//!
//! `named_enum!` declares such an enum once, each value with its name and a one-line
//! description. Everything that spells a value comes from that declaration: `as_str`,
//! `parse`, `Display`, serde (the stored form), and through [`EnumNames`] the config
//! decoder's accepted values and hints and the config schema's enums.
//!
//! Adding a value is one line in the enum's declaration; the compiler then points at
//! every `match` that must handle it.

/// An enum's names as data, for code that handles any named enum alike (the config
/// decoder and the config schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnumNames {
    /// The Rust type (`Direction`), which names the schema definition.
    pub type_name: &'static str,
    /// What one value is called in messages: `direction`, `system kind`.
    pub what: &'static str,
    /// Each value's name and description, in declaration order.
    pub values: &'static [(&'static str, &'static str)],
}

impl EnumNames {
    pub fn names(&self) -> Vec<&'static str> {
        self.values.iter().map(|(name, _)| *name).collect()
    }
}

/// Implemented by every `named_enum!`; lets generic code take the enum as a type.
pub trait Named: Copy + Sized + 'static {
    const NAMES: EnumNames;
    fn as_str(self) -> &'static str;
    fn parse(s: &str) -> Option<Self>;
}

/// Declares an enum with a name per value. Each value needs a doc comment: it is the
/// value's description in the config schema.
///
/// ```text
/// named_enum! {
///     /// Where a mapping carries values.
///     pub enum Direction("direction") default Both {
///         /// Left to right only.
///         LeftToRight = "left_to_right",
///         ...
///     }
/// }
/// ```
macro_rules! named_enum {
    (
        $(#[doc = $doc:literal])*
        $vis:vis enum $name:ident ($what:literal) $(default $default:ident)? {
            $( $(#[doc = $vdoc:literal])+ $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        $vis enum $name {
            $( $(#[doc = $vdoc])+ $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub const NAMES: $crate::names::EnumNames = $crate::names::EnumNames {
                type_name: stringify!($name),
                what: $what,
                values: &[$(($text, concat!($($vdoc),+))),+],
            };
            const TEXTS: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl $crate::names::Named for $name {
            const NAMES: $crate::names::EnumNames = $name::NAMES;
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
            fn parse(s: &str) -> Option<$name> {
                $name::parse(s)
            }
        }

        $(
            impl Default for $name {
                fn default() -> $name {
                    $name::$default
                }
            }
        )?

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                $name::parse(&text).ok_or_else(|| serde::de::Error::unknown_variant(&text, $name::TEXTS))
            }
        }
    };
}

pub(crate) use named_enum;

#[cfg(test)]
mod tests {
    use crate::{AuthKind, ConflictPolicy, Direction, FilterExit, Flow, Links, MappingKind, SystemKind, UnmatchedUser};

    use super::{EnumNames, Named};

    fn check<T: Named + std::fmt::Debug + PartialEq + serde::Serialize + serde::de::DeserializeOwned>(all: &[T]) {
        let names = T::NAMES;
        assert_eq!(all.len(), names.values.len(), "{}", names.type_name);
        for (value, (name, doc)) in all.iter().zip(names.values) {
            assert_eq!(value.as_str(), *name);
            assert_eq!(T::parse(name), Some(*value));
            assert!(!doc.trim().is_empty(), "{}::{name} has no description", names.type_name);
            let json = serde_json::to_value(value).unwrap();
            assert_eq!(json, serde_json::Value::String(name.to_string()), "stored as its name");
            assert_eq!(serde_json::from_value::<T>(json).unwrap(), *value);
        }
        assert_eq!(T::parse("no such value"), None);
        let err = serde_json::from_str::<T>("\"no such value\"").unwrap_err().to_string();
        assert!(err.contains(names.values[0].0), "the serde error lists the names: {err}");
    }

    #[test]
    fn every_named_value_spells_parses_and_stores_as_its_name() {
        check(SystemKind::ALL);
        check(AuthKind::ALL);
        check(Flow::ALL);
        check(Direction::ALL);
        check(MappingKind::ALL);
        check(ConflictPolicy::ALL);
        check(UnmatchedUser::ALL);
        check(FilterExit::ALL);
        check(Links::ALL);
    }

    #[test]
    fn names_keep_their_descriptions_and_what_they_are_called() {
        let d: EnumNames = Direction::NAMES;
        assert_eq!(d.type_name, "Direction");
        assert_eq!(d.what, "direction");
        assert_eq!(d.names(), vec!["left_to_right", "right_to_left", "both"]);
        assert_eq!(Direction::default(), Direction::Both);
        assert_eq!(SystemKind::AzureDevops.to_string(), "azure_devops");
    }
}
