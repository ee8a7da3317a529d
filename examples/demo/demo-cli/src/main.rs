//! `demo-cli`: prints a greeting followed by its arguments and exits 0.

fn greeting(args: &[String]) -> String {
    let mut line = String::from("hello from demo-cli");
    for arg in args {
        line.push(' ');
        line.push_str(arg);
    }
    line
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    println!("{}", greeting(&args));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_unit_passes() {
        assert_eq!(
            greeting(&["a".to_string(), "b".to_string()]),
            "hello from demo-cli a b"
        );
        assert_eq!(env!("DEMO_GENERATED"), "yes");
    }
}
