# Reference values for tests/test_reliability.py, written to
# reliability_psych_semtools.json beside this script.
#
# Run from the repository root:
#   Rscript tests/reference/reliability_psych_semtools.R
#
# Made with R 4.2, psych 2.2.9, lavaan 0.6-14, semTools 0.5-6 and jsonlite.
# Data: data/bfi.csv, with the reverse-keyed items A1, C4, C5, E1, E2, O2 and
# O5 recoded as 7 - x (the items are scored 1 to 6).
#
# psych::alpha() deletes pairwise by default and counts every row of its
# input, while lio_validate.reliability() deletes listwise per scale. So each
# scale's complete rows (na.omit) are passed to psych::alpha(), which makes
# its nobs, Feldt interval and Duhachek standard error comparable. lavaan's
# default (missing = "listwise") already drops the same rows for the CFA.

suppressPackageStartupMessages({
  library(psych)
  library(lavaan)
  library(semTools)
  library(jsonlite)
})

data_path <- file.path("data", "bfi.csv")
out_path <- file.path("tests", "reference", "reliability_psych_semtools.json")

bfi <- read.csv(data_path)
reverse <- c("A1", "C4", "C5", "E1", "E2", "O2", "O5")
for (item in reverse) {
  bfi[[item]] <- 7 - bfi[[item]]
}

scales <- list(
  A = paste0("A", 1:5),
  C = paste0("C", 1:5),
  E = paste0("E", 1:5),
  N = paste0("N", 1:5),
  O = paste0("O", 1:5),
  # Three items: the one-factor model has df = 0, so omega (observed total
  # variance) and composite reliability (implied total variance) coincide.
  A_three = c("A2", "A3", "A4"),
  # Two items: alpha and item statistics only, because a one-factor model
  # on two items is not identified.
  N_two = c("N1", "N2")
)

named <- function(values, names) {
  as.list(setNames(as.numeric(values), names))
}

alpha_reference <- function(items) {
  complete <- na.omit(bfi[, items])
  result <- psych::alpha(complete, warnings = FALSE)
  total <- result$total
  z <- qnorm(0.975)
  reference <- list(
    items = items,
    nobs = nrow(complete),
    alpha = total$raw_alpha,
    std_alpha = total$std.alpha,
    alpha_se = total$ase,
    # alpha() passes a one-column data frame to alpha.ci(), so the Feldt
    # bounds come back as data frames.
    feldt_ci_lower = as.numeric(result$feldt$lower.ci),
    feldt_ci_upper = as.numeric(result$feldt$upper.ci),
    # psych's print method shows alpha -/+ 1.96 * ase in its "Duhachek" row.
    duhachek_ci_lower_printed = total$raw_alpha - 1.96 * total$ase,
    duhachek_ci_upper_printed = total$raw_alpha + 1.96 * total$ase,
    # The same interval with the exact normal quantile qnorm(0.975).
    duhachek_ci_lower = total$raw_alpha - z * total$ase,
    duhachek_ci_upper = total$raw_alpha + z * total$ase,
    item_rest_r = named(result$item.stats$r.drop, items)
  )
  if (length(items) > 2) {
    reference$alpha_if_deleted <- named(result$alpha.drop$raw_alpha, items)
  }
  # Feldt's interval at 90% coverage, to check the confidence_level argument.
  feldt_90 <- psych::alpha.ci(total$raw_alpha, nrow(complete), length(items),
                              p.val = 0.10)
  reference$feldt_ci_90_lower <- as.numeric(feldt_90$lower.ci)
  reference$feldt_ci_90_upper <- as.numeric(feldt_90$upper.ci)
  reference
}

cfa_reference <- function(scale, items) {
  model <- paste(scale, "=~", paste(items, collapse = " + "))
  fit <- lavaan::cfa(model, data = bfi, std.lv = FALSE)
  estimates <- lavaan::parameterEstimates(fit, standardized = TRUE)
  loadings <- estimates[estimates$op == "=~", ]
  residuals <- estimates[estimates$op == "~~" & estimates$lhs %in% items &
                           estimates$lhs == estimates$rhs, ]
  latent_variance <- estimates$est[estimates$op == "~~" &
                                     estimates$lhs == scale &
                                     estimates$rhs == scale]
  lambda <- loadings$est
  theta <- residuals$est[match(items, residuals$lhs)]
  sample_cov <- lavaan::lavInspect(fit, "sampstat")$cov[items, items]
  common <- sum(lambda)^2 * latent_variance
  list(
    model = model,
    cfa_nobs = lavaan::nobs(fit),
    loadings = named(lambda, loadings$rhs),
    std_loadings = named(loadings$std.all, loadings$rhs),
    residual_variances = named(theta, items),
    latent_variance = latent_variance,
    sample_cov = unname(as.matrix(sample_cov)),
    omega = unname(semTools::compRelSEM(fit)[scale]),
    omega_implied = unname(semTools::compRelSEM(fit, obs.var = FALSE)[scale]),
    composite_reliability = common / (common + sum(theta)),
    ave = unname(semTools::AVE(fit)[scale]),
    ave_implied = unname(semTools::AVE(fit, obs.var = FALSE)[scale])
  )
}

reference <- list()
for (scale in names(scales)) {
  items <- scales[[scale]]
  entry <- alpha_reference(items)
  if (length(items) > 2) {
    entry <- c(entry, cfa_reference(scale, items))
  }
  reference[[scale]] <- entry
}

output <- list(
  provenance = list(
    script = "tests/reference/reliability_psych_semtools.R",
    data = data_path,
    reverse = reverse,
    recode = "7 - x",
    r_version = R.version.string,
    psych = as.character(packageVersion("psych")),
    lavaan = as.character(packageVersion("lavaan")),
    semTools = as.character(packageVersion("semTools"))
  ),
  scales = reference
)
# jsonlite writes at most 15 significant digits, so numbers are formatted
# here with 17, which reads back as the same double.
exact_numbers <- function(x) {
  if (is.list(x)) {
    return(lapply(x, exact_numbers))
  }
  if (!is.numeric(x)) {
    return(x)
  }
  digits <- function(values) sprintf("%.17g", as.double(values))
  if (is.matrix(x)) {
    rows <- apply(x, 1, function(row) {
      paste0("[", paste(digits(row), collapse = ", "), "]")
    })
    text <- paste0("[", paste(rows, collapse = ", "), "]")
  } else if (length(x) == 1) {
    text <- digits(x)
  } else {
    text <- paste0("[", paste(digits(x), collapse = ", "), "]")
  }
  structure(text, class = "json")
}

jsonlite::write_json(exact_numbers(output), out_path, auto_unbox = TRUE,
                     json_verbatim = TRUE, pretty = TRUE)
cat("wrote", out_path, "\n")
