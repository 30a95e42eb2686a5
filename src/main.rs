fn main() {
    println!("sphere");
}
