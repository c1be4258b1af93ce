//! Templates with logic (the `logic` format): the basic `{{variable}}` syntax plus
//! conditionals, loops and includes, rendered by a sandboxed engine. Being written.
