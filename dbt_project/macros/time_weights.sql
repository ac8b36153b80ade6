{#- Weights of an event by its age in days. Plain SQL: every adapter runs them
    as they are. -#}

{#- Exponential decay: an event half_life_days old counts half as much as a
    fresh one. -#}
{% macro decay_weight(age_days, half_life_days) -%}
    exp(-ln(2.0) * ({{ age_days }}) / ({{ half_life_days }}))
{%- endmacro %}

{#- The fixed long-term weight alpha(t) = 1 / (1 + e^(-k t)), t the age in days;
    the short-term weight is beta = 1 - alpha. -#}
{% macro alpha_weight(age_days, k) -%}
    1.0 / (1.0 + exp(-({{ k }}) * ({{ age_days }})))
{%- endmacro %}

{#- How much an event says about interest: a rating counts
    rating / 5 * var rating_scale, other types their var event_weights entry,
    unlisted types 0. -#}
{% macro event_weight(event_type, rating) -%}
    case
        when {{ event_type }} = 'rating'
            then coalesce({{ rating }}, 0) / 5.0 * {{ var('rating_scale') }}
        {%- for name, weight in var('event_weights').items()
            if name != 'rating' %}
        when {{ event_type }} = '{{ name }}' then {{ weight }}
        {%- endfor %}
        else 0.0
    end
{%- endmacro %}

{#- alpha(t) summed over a bucket of events without their ages. A bucket
    (a user, category and day) stores the moments M_j = sum(w * d^j), d the
    event's offset in days from the bucket's centre (|d| <= 1/2). With
    s = alpha(t_c) at the centre's age t_c, alpha(t_c - d) has the Taylor
    series sum_j (-k)^j / j! * P_j(s) * d^j, where alpha's j-th derivative is
    k^j * P_j(alpha): P_0(s) = s, P_(j+1)(s) = P_j'(s) * s * (1 - s). alpha
    is analytic within pi / k of the real line and |alpha| <= 1 at distance
    pi / (2k), so (Cauchy) the j-th term is at most (k / pi)^j * w for
    |d| <= 1/2, and the terms after the J-th at most
    (k / pi)^(J+1) / (1 - k / pi) * w. Each event's alpha is at least 1/2
    (its age is not negative), so with non-negative weights the relative
    error of the sum is at most twice that. -#}

{#- Moments stored per bucket (int_user_category_days_summed). -#}
{% macro alpha_moments_stored() -%}
    {{ return(10) }}
{%- endmacro %}

{#- The number of terms J for a relative error under 1e-11, or none when the
    stored moments are not enough (k above about 0.28: then the marts sum
    alpha event by event). -#}
{% macro alpha_taylor_terms(k) -%}
    {%- set ratio = (k | float) / 3.141592653589793 -%}
    {%- for j in range(0, alpha_moments_stored() + 1) -%}
        {%- if ratio < 1 and 2 * ratio ** (j + 1) / (1 - ratio) <= 1e-11 -%}
            {{ return(j) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}

{#- sum(w * alpha(t)) of a bucket: `sigma` is alpha at the centre's age,
    `moments` the column names of M_0 .. M_J. -#}
{% macro alpha_from_moments(sigma, moments, k) -%}
    {%- set ns = namespace(poly=[0, 1], terms=[], factor=1.0, horner='') -%}
    {%- for j in range(0, moments | length) -%}
        {%- if j > 0 -%}
            {#- P_j = P_(j-1)' * (s - s^2) -#}
            {%- set deriv = [] -%}
            {%- for i in range(1, ns.poly | length) -%}
                {%- do deriv.append(i * ns.poly[i]) -%}
            {%- endfor -%}
            {%- set nxt = [] -%}
            {%- for i in range(0, deriv | length + 2) -%}
                {%- set plus = deriv[i - 1] if 1 <= i <= deriv | length
                    else 0 -%}
                {%- set minus = deriv[i - 2] if 2 <= i <= deriv | length + 1
                    else 0 -%}
                {%- do nxt.append(plus - minus) -%}
            {%- endfor -%}
            {%- set ns.poly = nxt -%}
            {%- set ns.factor = ns.factor * (-(k | float)) / j -%}
        {%- endif -%}
        {#- Horner form of P_j(sigma) -#}
        {%- set ns.horner = '0.0' -%}
        {%- for c in ns.poly | reverse -%}
            {%- set ns.horner = '(' ~ c ~ ' + ' ~ sigma ~ ' * ' ~ ns.horner ~ ')' -%}
        {%- endfor -%}
        {%- do ns.terms.append(
            '(' ~ ns.factor ~ ') * ' ~ ns.horner ~ ' * ' ~ moments[j]
        ) -%}
    {%- endfor -%}
    ({{ ns.terms | join('\n        + ') }})
{%- endmacro %}

{#- The moment columns M_0 .. M_J of int_user_category_days_summed. -#}
{% macro alpha_moment_columns(terms) -%}
    {%- set columns = ['total_weight'] -%}
    {%- for j in range(1, (terms or 0) + 1) -%}
        {%- do columns.append('weight_moment_' ~ j) -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}
