//! JSON Schema of the wire types, for the app team.
