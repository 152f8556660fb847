// `sqlx::migrate!` embeds the migrations at compile time; without this, a change to a `.sql`
// file alone would not rebuild the hub and the old text would run (sqlx's documented fix).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
